"""``islpose export-pose`` and ``islpose import-pose``: thin click commands over
:mod:`islpose.io.pose`."""
from __future__ import annotations

import click

from islpose.cli.extract import _QuietProgress, _report, _RichProgress


@click.command("export-pose")
@click.argument("store", metavar="STORE.h5")
@click.argument("out_dir", metavar="OUT_DIR")
@click.option("--ids", "ids", multiple=True, metavar="ID...",
              help="Only these utterances (repeat the option, or give a comma-separated list).")
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
    from islpose.io.pose.export import export_poses

    wanted = [i for group in ids for i in group.split(",") if i] or None
    with (_QuietProgress() if quiet else _RichProgress("export-pose")) as progress:
        summary = export_poses(store, out_dir, wanted, overwrite, progress)
    _report(summary, f"islpose export-pose -> {out_dir}")
