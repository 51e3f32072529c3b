"""``islpose export-pose`` and ``islpose import-pose``: thin click commands over
:mod:`islpose.extract`."""

from __future__ import annotations

import click

from islpose.cli._progress import progress_bar
from islpose.cli.extract import _report, store_run_options


@click.command("export-pose")
@click.argument("store", metavar="STORE.h5")
@click.argument("out_dir", metavar="OUT_DIR")
@click.option(
    "--ids",
    "ids",
    multiple=True,
    metavar="ID...",
    help="Only these utterances (repeat the option, or give a comma-separated list).",
)
@click.option("--overwrite", is_flag=True, help="Replace .pose files that already exist in OUT_DIR.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar: failures and the summary only.")
def export_pose(store: str, out_dir: str, ids: tuple[str, ...], overwrite: bool, quiet: bool) -> None:
    """Write the landmarks of STORE as pose-format files OUT_DIR/<id>.pose.

    The files are pose-format v0.2 MediaPipe Holistic recordings (POSE_LANDMARKS,
    FACE_LANDMARKS, LEFT_HAND_LANDMARKS, RIGHT_HAND_LANDMARKS, with limbs), which
    pose-format, its viewer and the tools built on it read. Existing files are not
    replaced unless --overwrite is given.

    \b
    Example:
      islpose export-pose feats.h5 poses/
      islpose export-pose feats.h5 poses/ --ids utt1,utt2 --overwrite
    """
    from islpose.extract.export_pose import export_poses

    wanted = [i for group in ids for i in group.split(",") if i] or None
    with progress_bar("export-pose", quiet, unit="utterances") as progress:
        summary = export_poses(store, out_dir, wanted, overwrite, progress)
    _report(summary, f"islpose export-pose -> {out_dir}")


@click.command("import-pose")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.argument("out", metavar="OUT.h5")
@store_run_options("file")
def import_pose(
    inputs: tuple[str, ...],
    out: str,
    workers: int | None,
    executor: str,
    overwrite: bool,
    verify: bool,
    dtype: str,
    quiet: bool,
) -> None:
    """Import pose-format .pose recordings (MediaPipe Holistic) into the feature store OUT.h5.

    INPUTS are .pose files, folders (searched recursively for `*.pose`) or manifests whose
    rows have a `pose` field (relative to the manifest). The store is the one `extract`
    writes: landmarks, presence and both feature sets. An utterance's id is the
    manifest's or the file name without .pose. A rerun skips files already stored and
    unchanged, so a killed run is resumed by running it again; a file that cannot be
    used is reported and the run goes on (exit code 1 if any failed). Only the first
    person of a file is imported.

    \b
    Example:
      islpose import-pose poses/ feats.h5 --workers 4
      islpose import-pose data_manifests/isign.jsonl feats.h5 --quiet
      RAY_ADDRESS=auto islpose import-pose /shared/isign/poses/ feats.h5 --executor ray
    """
    from islpose.extract.import_pose import import_poses
    from islpose.extract.runner import ImportConfig

    config = ImportConfig(workers=workers, executor=executor, overwrite=overwrite, verify=verify, dtype=dtype)
    with progress_bar("import-pose", quiet, unit="files") as progress:
        summary = import_poses(inputs, out, config, progress)
    _report(summary, f"islpose import-pose -> {out}")
