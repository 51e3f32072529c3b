"""Writers of recognition records: JSONL lines, ELAN ``.eaf`` files and ``.srt`` subtitles.

Each writer takes what :class:`~islpose.recognize.Recognizer` returns (a
:class:`~islpose.recognize.Recognition`) or its JSON record ``{"id", "source", "duration",
"glosses", "segments": [{"gloss", "start", "end", "score"}, ...]}`` (e.g. read back from a
JSONL file).

The EAF (ELAN Annotation Format 3.0, the XML that ELAN and pympi-ling read) holds a
``gloss`` tier with one annotation per segment and a ``confidence`` tier with the scores
on the same time slots; a video source is linked as the media file, so ELAN opens the
video with the glosses under it.
"""

from __future__ import annotations

import mimetypes
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from islpose.io.atomic import write_text_atomic
from islpose.recognize.segments import Recognition

GLOSS_TIER, CONFIDENCE_TIER = "gloss", "confidence"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _as_record(result: Recognition | dict) -> dict:
    return result.to_dict() if isinstance(result, Recognition) else result


def eaf_text(result: Recognition | dict, eaf_dir: str | Path | None = None) -> str:
    """The ELAN ``.eaf`` XML of one recognition.

    Args:
        result: a recognition or its JSON record.
        eaf_dir: the folder the file will be written to (for the media's relative URL).
    """
    record = _as_record(result)
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "islpose",
            "DATE": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    source = record.get("source")
    mime = mimetypes.guess_type(source)[0] if source else None
    if mime and mime.startswith("video/"):
        media = Path(source).resolve()
        attrs = {"MEDIA_URL": media.as_uri(), "MIME_TYPE": mime}
        if eaf_dir is not None:
            attrs["RELATIVE_MEDIA_URL"] = "./" + Path(os.path.relpath(media, Path(eaf_dir).resolve())).as_posix()
        ET.SubElement(header, "MEDIA_DESCRIPTOR", attrs)
    segments = record["segments"]
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(2 * len(segments))
    order = ET.SubElement(root, "TIME_ORDER")
    tiers = {
        name: ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": name, "TIER_ID": name})
        for name in (GLOSS_TIER, CONFIDENCE_TIER)
    }
    for i, seg in enumerate(segments):
        ts1, ts2 = f"ts{2 * i + 1}", f"ts{2 * i + 2}"
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": ts1, "TIME_VALUE": str(_ms(seg["start"]))})
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": ts2, "TIME_VALUE": str(_ms(seg["end"]))})
        for k, (tier, value) in enumerate(((GLOSS_TIER, seg["gloss"]), (CONFIDENCE_TIER, f"{seg['score']:.3f}"))):
            ann = ET.SubElement(
                ET.SubElement(tiers[tier], "ANNOTATION"),
                "ALIGNABLE_ANNOTATION",
                {"ANNOTATION_ID": f"a{2 * i + k + 1}", "TIME_SLOT_REF1": ts1, "TIME_SLOT_REF2": ts2},
            )
            ET.SubElement(ann, "ANNOTATION_VALUE").text = value
    for name in (GLOSS_TIER, CONFIDENCE_TIER):
        ET.SubElement(
            root,
            "LINGUISTIC_TYPE",
            {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": name, "TIME_ALIGNABLE": "true"},
        )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _srt_time(seconds: float) -> str:
    ms = _ms(seconds)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def srt_text(result: Recognition | dict) -> str:
    """SubRip subtitles of one recognition (or its JSON record): one cue per gloss segment."""
    record = _as_record(result)
    cues = [
        f"{i}\n{_srt_time(s['start'])} --> {_srt_time(s['end'])}\n{s['gloss']}\n"
        for i, s in enumerate(record["segments"], start=1)
    ]
    return "\n".join(cues)


def write_eaf(result: Recognition | dict, path: str | Path) -> Path:
    """Writes the recognition's ``.eaf`` atomically."""
    return write_text_atomic(path, eaf_text(result, Path(path).parent))


def write_srt(result: Recognition | dict, path: str | Path) -> Path:
    """Writes the recognition's ``.srt`` atomically."""
    return write_text_atomic(path, srt_text(result))
