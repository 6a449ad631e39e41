"""Image operations: B-spline interpolation (scipy semantics), Gaussian blur, colour spaces."""

from ._color import hsv_to_rgb as hsv_to_rgb, rgb_to_hsv as rgb_to_hsv
from ._interpolate import map_coordinates as map_coordinates, resample as resample
