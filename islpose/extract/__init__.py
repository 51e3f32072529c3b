"""The stages that turn media into store records: videos through MediaPipe Holistic
(:mod:`~islpose.extract.videos`, :mod:`~islpose.extract.video`, :mod:`~islpose.extract.holistic`),
pose-format ``.pose`` files in and out (:mod:`~islpose.extract.import_pose`,
:mod:`~islpose.extract.export_pose`, :mod:`~islpose.extract.posefile`), features of stored
landmarks (:mod:`~islpose.extract.featurize`), and the run they share (inputs, executors,
resume, summary: :mod:`~islpose.extract.inputs`, :mod:`~islpose.extract.executors`,
:mod:`~islpose.extract.runner`).

Importing this package is light; the submodules import h5py, OpenCV and MediaPipe. The
package is also callable: ``islpose.extract(inputs, out)`` is :func:`islpose.extract.videos.extract`.
"""

from islpose._callable import make_callable

make_callable(__name__, "islpose.extract.videos:extract")
