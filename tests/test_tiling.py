"""Tiled inference is exact by construction on the real baseline architectures (random weights).

`sr_forward(..., tile=T)` reads each tile with `models.receptive_field_radius(model)` LR pixels of context by
default; the image is wider than three tiles, so the middle tile's context ends inside the image (a real seam).
"""
import pytest
import torch

from wdsr_lib.engine.evaluate import sr_forward
from wdsr_lib.models import build_model, receptive_field_radius


@pytest.mark.parametrize("name, scale, radius", [
    ("edsr", 2, 36),  # head 1 + 16 blocks x 2 + body-end 1 + upsampler 1 + tail 1 (EDSR Fig. 3)
    ("edsr", 4, 37),  # two upsampler convs (the second at 2x: 1 LR px) + tail
    ("wdsr_a", 2, 34),  # head 1 + 16 x 2 + tail 1; the 5x5 skip (2) runs beside it (WDSR Fig. 2)
    ("wdsr_b", 3, 18),  # one 3x3 per block (WDSR Sec. 3.2)
    ("mdsr", 3, 44),  # + two 5x5 residual blocks of the x3 pre-processing (EDSR Sec. 3.3)
])
def test_radius_counts_the_lr_path_convs(name, scale, radius):
    assert receptive_field_radius(build_model(name, scale)) == radius


@pytest.mark.parametrize("name, scale, transpose", [("edsr", 2, False), ("wdsr_a", 2, True), ("wdsr_b", 3, False),
                                                    ("mdsr", 4, False)])
def test_tiled_equals_untiled_on_the_baselines(name, scale, transpose):
    torch.manual_seed(0)
    model = build_model(name, scale).eval()
    radius = receptive_field_radius(model, scale)
    tile = radius + 4  # the middle tile reads [4, 3 * tile - 4): its context ends inside the image
    shape = (1, 3, 3 * tile, 12) if transpose else (1, 3, 12, 3 * tile)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 255
    kw = {"scale": scale} if name == "mdsr" else {}
    plain = sr_forward(model, x, **kw)
    tiled = sr_forward(model, x, tile=tile, **kw)  # default overlap: the radius
    torch.testing.assert_close(tiled, plain, rtol=0, atol=1e-3)  # bitwise here; other conv kernels may round
    if name == "wdsr_a":  # too little context shows the seams (random weights damp far pixels: 8 px, not 33)
        short = sr_forward(model, x, tile=tile, overlap=8, **kw)
        assert (short - plain).abs().max() > 0.05
