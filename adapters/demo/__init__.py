"""A shipped, self-contained demo: procedurally generated scenes and objects, small trained models,
and ``mtest certify-demo`` (paper Tables 1 and 2 in miniature).

Nothing is downloaded: the data are generated (``.data``), the networks are defined in
``.models``, trained by ``.train`` (``python -m mtest.adapters.demo.train``), and their
weights ship with the package (``*.pt``, loaded with ``torch.load(weights_only=True)``).
"""
from .data import IMAGE_CLASSES, POINT_CLASSES, make_images, make_point_clouds
from .models import ImageFCN, PointNetSeg, load_model

__all__ = ["IMAGE_CLASSES", "POINT_CLASSES", "ImageFCN", "PointNetSeg", "load_model", "make_images",
           "make_point_clouds"]
