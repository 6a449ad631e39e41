"""Image operations: B-spline interpolation (scipy semantics), Gaussian blur, colour spaces."""

from ._blur import gaussian_blur as gaussian_blur, gaussian_kernel as gaussian_kernel
from ._color import hsv_to_rgb as hsv_to_rgb, rgb_to_hsv as rgb_to_hsv
from ._interpolate import map_coordinates as map_coordinates, resample as resample
