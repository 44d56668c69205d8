"""RAdam whose step runs once over all of a group's tensors (``torch._foreach_*``), bit-identical to torch's RAdam.

torch's own ``RAdam(foreach=True)`` batches the step too, but evaluates the update in another order than its
per-tensor loop, so its weights drift from the per-tensor ones by an ulp a step, and a trained model's metrics
change. :class:`ForeachRAdam` performs the per-tensor loop's operations in the same order, each over the list of
tensors: the same bits as ``torch.optim.RAdam(foreach=False)`` with a fraction of the Python per step. Its state
is torch's RAdam's (checkpoints load in either). Options outside the trainer's use (``maximize``, decoupled
weight decay, ``capturable``, ``differentiable``, complex parameters) fall back to torch's loop.

Example::

    opt = ForeachRAdam(model.parameters(), lr=7e-4)
    loss.backward(); opt.step()
"""

from __future__ import annotations

from collections import defaultdict

import torch

__all__ = ["ForeachRAdam"]


class ForeachRAdam(torch.optim.RAdam):
    """``torch.optim.RAdam`` (betas, eps, weight decay as there) with a batched, bit-identical step."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)

    @torch.no_grad()
    def step(self, closure=None):
        groups = self.param_groups
        if closure is not None or any(g["maximize"] or g["decoupled_weight_decay"] or g["capturable"]
                                      or g["differentiable"] for g in groups):
            return super().step(closure)
        for group in groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            if self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, steps):
                return super().step()  # complex parameters (checked before any state moved)
            if params:
                _step_group(group, params, grads, exp_avgs, exp_avg_sqs, steps)
        return None


def _step_group(group: dict, params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, steps: list) -> None:
    """One RAdam step of ``params`` in the order of torch's ``_single_tensor_radam``; tensors at the same step
    count share their scalars, so each set is updated by one call per operation."""
    beta1, beta2 = group["betas"]
    lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
    torch._foreach_add_(steps, 1)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    by_step = defaultdict(list)
    for i, step_t in enumerate(steps):
        by_step[step_t.item()].append(i)
    rho_inf = 2 / (1 - beta2) - 1
    for step, index in by_step.items():
        ps, avgs, sqs = ([xs[i] for i in index] for xs in (params, exp_avgs, exp_avg_sqs))
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        update = torch._foreach_div(avgs, bias_correction1)
        torch._foreach_mul_(update, lr)
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            # (bias_correction2 ** 0.5) / (sqrt(v) + eps), as torch evaluates scalar / tensor: reciprocal * scalar
            adaptive = torch._foreach_sqrt(sqs)
            torch._foreach_add_(adaptive, eps)
            torch._foreach_reciprocal_(adaptive)
            torch._foreach_mul_(adaptive, bias_correction2**0.5)
            torch._foreach_mul_(update, adaptive)
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            torch._foreach_mul_(update, rect)
        torch._foreach_add_(ps, update, alpha=-1.0)
