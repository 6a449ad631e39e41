"""The stage-1 (SSL + invertibility) training step as a PyTorch user writes it.

The comparison row of `train_step.py`: the same network (Dense -> gelu -> LayerNorm blocks
[2048, 1024, 512, 256], a linear head to the 5 locations, a learned scale per parameter), the
same loss (`n` augmentations, the composed loop `T_{η_x} ∘ T_{η_v}^{-1} ∘ T_{η_rnd}` applied
once to `x`, plus 0.1 x the invertibility term with two warps), the same AdamW + clipping,
and bicubic warps: `affine_grid` + `grid_sample(mode="bicubic")` (Keys cubic convolution,
`align_corners=False`, zero padding). Group elements are `matrix_exp` of the Lie algebra
element and inverted with `torch.linalg.inv`, as a straightforward port does.

Returns `None` (and prints why) when torch is not importable: it is an optional comparison
(`pip install .[bench]`).
"""

import statistics
import time


def _generators(torch):
    g = torch.zeros(5, 3, 3)
    g[0, 0, 2] = 1.0  # translation x
    g[1, 1, 2] = 1.0  # translation y
    g[2, 0, 1], g[2, 1, 0] = -1.0, 1.0  # rotation
    g[3, 0, 0] = 1.0  # log-scale x
    g[4, 1, 1] = 1.0  # log-scale y
    return g


def torch_ssl_examples_per_s(
    batch_size: int, n_samples: int, bounds: tuple[float, ...], steps: int, threads: int | None
) -> float | None:
    """Median examples/s of `steps` timed stage-1 steps (after two warm-up steps)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("torch is not importable: skipping the PyTorch training step (pip install torch)")
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    hidden = (2048, 1024, 512, 256)
    layers: list = []
    width = 28 * 28
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.GELU(), torch.nn.LayerNorm(h)]
        width = h
    body = torch.nn.Sequential(*layers, torch.nn.Linear(width, 5))
    raw_scale = torch.nn.Parameter(torch.full((5,), -2.0))
    params = [*body.parameters(), raw_scale]
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=1e-4)
    gens = _generators(torch)
    bound = torch.tensor(bounds, dtype=torch.float32)
    n, b = n_samples, batch_size

    def matrices(eta):  # (..., 5) -> (..., 3, 3)
        return torch.linalg.matrix_exp(torch.einsum("...i,ijk->...jk", eta, gens))

    def warp(m, x):  # content at p moves to m p: sample at m^{-1} q
        theta = torch.linalg.inv(m)[:, :2, :]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bicubic", padding_mode="zeros", align_corners=False)

    def step(x):
        eta_rnd = (2 * torch.rand(b, n, 5) - 1) * bound
        m_rnd = matrices(eta_rnd).reshape(b * n, 3, 3)
        x_rep = x.repeat_interleave(n, dim=0)
        with torch.no_grad():
            x_rnd = warp(m_rnd, x_rep)
        inputs = torch.cat([x, x_rnd]).reshape(b * (1 + n), -1)
        loc = body(inputs)
        scale = F.softplus(raw_scale)
        loc_x, loc_v = loc[:b], loc[b:]
        eta_x = loc_x.repeat_interleave(n, dim=0) + scale * torch.randn(b * n, 5)
        eta_v = loc_v + scale * torch.randn(b * n, 5)
        loop = matrices(eta_x) @ torch.linalg.inv(matrices(eta_v)) @ m_rnd
        ssl = torch.mean((warp(loop, x_rep) - x_rep) ** 2)
        g = matrices(eta_x[::n])
        back = warp(torch.linalg.inv(g), warp(g, x))
        loss = ssl + 0.1 * torch.mean((back - x) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    x = torch.rand(b, 1, 28, 28)
    for _ in range(2):
        step(x)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - t0)
    return b / statistics.median(times)
