"""Gradient descent against gradient flow: first order in η, unstable beyond 2/λ_max.
===================================================================================

1. Saxe et al.'s two-layer linear network (``LinearNet.paper()``: modes s = 3, 2, 1 learned
   one after the other from a small aligned initialisation), integrated as a flow and
   trained by gradient descent with several learning rates η.  Step k of gradient descent
   is compared with the flow at t = η·k.  The distance is largest at the transitions and
   proportional to η: divided by η, the curves of all rates fall on one curve.  At a fixed
   time T, ``gf.convergence_order`` fits the slope of log error against log η: 1, the
   order of the explicit Euler method.
2. Gradient descent on the quadratic L = ½(θ₁² + 10 θ₂²) (λ_max = 10, so 2/λ_max = 0.2)
   with η just below (0.19) and just above (0.21) the threshold.  Along the top direction
   each step multiplies θ₂ by 1 − ηλ_max = −0.9 or −1.1: both flip sign every step, the
   first shrinks and the second grows until the loss overflows.  ``gradient_descent`` warns
   at the start, stops with status "diverged" and keeps every step it computed.

Run:  ``python examples/gd_vs_gf.py [--out DIR]``
"""

import argparse
import json
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import gradflow as gf
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic

LRS = [0.16, 0.08, 0.04, 0.02, 0.01]  # learning rates of part 1 (η·λ_max ≤ 0.96 < 2)
T_ORDER = 4.0  # flow time at which the order is fitted (T/η is an integer for every η)
T_END = 8.0  # end of the part-1 runs
EIGENVALUES = [1.0, 10.0]  # Hessian of the part-2 quadratic
STEPS_UNSTABLE = 5000  # enough steps for 1.1^k to overflow the loss


def order_figure(out: Path) -> dict:
    """Part 1: GD against the flow on the linear network, and the fitted order."""
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    flow = gf.integrate_flow(net, p0, (0, T_END), rtol=1e-10, t_eval=np.linspace(0, T_END, 401))
    runs = {lr: gf.gradient_descent(net, p0, lr, round(T_END / lr)) for lr in LRS}
    distances = {lr: gf.compare(flow, gd) for lr, gd in runs.items()}
    order, errors = gf.convergence_order(net, p0, T_ORDER, LRS)

    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(LRS)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    modes_flow = flow.observables["modes"]
    for a in range(modes_flow.shape[1]):
        ax.plot(flow.t, modes_flow[:, a], color="black", lw=2, label="flow" if a == 0 else None)
    for lr, colour in zip((LRS[0], LRS[2]), (colours[0], colours[2]), strict=True):
        modes = runs[lr].observables["modes"]
        for a in range(modes.shape[1]):
            ax.plot(
                runs[lr].t,
                modes[:, a],
                "--",
                color=colour,
                lw=1.5,
                label=f"GD, η = {lr:g}" if a == 0 else None,
            )
    ax.set(
        xlabel="flow time t = η·k",
        ylabel="mode strength u_α",
        title="the three modes: GD lags behind the flow",
    )
    ax.legend(loc="lower right")

    ax = axes[1]
    for lr, colour in zip(LRS, colours, strict=True):
        ax.plot(
            distances[lr].t, distances[lr].param_distance / lr, color=colour, label=f"η = {lr:g}"
        )
    ax.set(
        xlabel="flow time t = η·k",
        ylabel="‖θ_GD(k) − θ_GF(η·k)‖ / η",
        title="distance to the flow / η: one curve, so distance ∝ η",
    )
    ax.legend()

    ax = axes[2]
    lrs = np.array(LRS)
    ax.loglog(lrs, errors, "o", color="black", label="measured")
    ax.loglog(lrs, errors[-1] * lrs / lrs[-1], "--", color="grey", label="slope 1")
    ax.set(
        xlabel="learning rate η",
        ylabel=f"‖θ_GD(T/η) − θ_GF(T)‖ at T = {T_ORDER:g}",
        title=f"fitted order {order:.3f} (convergence_order)",
    )
    ax.legend()
    fig.suptitle(
        "Gradient descent against gradient flow on the two-layer linear network "
        "(LinearNet.paper(), modes s = 3, 2, 1)"
    )
    fig.tight_layout()
    gf.plots.save(fig, out / "gd_vs_gf_order.png")
    plt.close(fig)
    return {
        "model": "LinearNet.paper()",
        "lrs": LRS,
        "t_order": T_ORDER,
        "errors_at_t_order": errors.tolist(),
        "ratios_per_halving": (errors[:-1] / errors[1:]).tolist(),
        "fitted_order": order,
        "max_distance_over_lr": {str(lr): d.max_param_distance / lr for lr, d in distances.items()},
    }


def stability_figure(out: Path) -> dict:
    """Part 2: GD on a quadratic just below and just above η = 2/λ_max."""
    model = Quadratic(np.diag(EIGENVALUES))
    p0 = {"theta": np.ones(len(EIGENVALUES))}
    lam = gf.descent.sharpness(model, p0)
    runs, warned = {}, {}
    for factor in (0.95, 1.05):
        lr = factor * 2 / lam
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs[lr] = gf.gradient_descent(model, p0, lr, STEPS_UNSTABLE)
        warned[lr] = [str(w.message) for w in caught]
    below, above = runs

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ax = axes[0]
    first = 20
    for lr, style in ((below, "o-"), (above, "s-")):
        theta = runs[lr].params["theta"][: first + 1, -1]
        ax.plot(
            np.arange(first + 1),
            theta,
            style,
            ms=4,
            lw=0.8,
            label=f"GD, η = {lr:.3g}: θ₂ × ({1 - lr * lam:.2f}) per step",
        )
    steps = np.linspace(0, first, 400)
    ax.plot(
        steps,
        np.exp(-lam * below * steps),
        color="black",
        lw=1.5,
        label=f"flow at t = {below:.3g}·k: θ₂ = e^(−λ_max t)",
    )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(
        xlabel="step k",
        ylabel="θ₂ (top Hessian direction)",
        xticks=range(0, first + 1, 2),
        title="GD flips the sign every step: below 2/λ_max it shrinks, above it grows",
    )
    ax.legend(loc="upper left")

    ax = axes[1]
    for lr, colour in ((below, "C0"), (above, "C3")):
        gd = runs[lr]
        positive = gd.loss > 0  # the converging loss underflows to 0 after ~3,500 steps
        ax.plot(
            gd.steps[positive],
            np.log10(gd.loss[positive]),
            color=colour,
            label=f"η = {lr:.3g} (η·λ_max = {lr * lam:.2f}): {gd.status}",
        )
    gd = runs[above]
    ax.plot(gd.steps[-1], np.log10(gd.loss[-1]), "x", color="C3", ms=10)
    ax.annotate(
        f"last finite loss, step {gd.steps[-1]}:\nthe run stops, samples kept",
        (gd.steps[-1], np.log10(gd.loss[-1])),
        xytext=(-330, -70),
        textcoords="offset points",
        arrowprops={"arrowstyle": "->"},
    )
    ax.axhline(np.log10(np.finfo(float).max), color="grey", lw=0.5, ls=":")
    ax.text(0, np.log10(np.finfo(float).max) + 8, "largest float64", color="grey", fontsize=8)
    ax.set(
        xlabel="step k",
        ylabel="log₁₀ loss",
        title=f"L = ½ θᵀ diag({EIGENVALUES[0]:g}, {EIGENVALUES[1]:g}) θ, "
        f"threshold 2/λ_max = {2 / lam:.3g}",
    )
    ax.legend(loc="lower left")
    fig.tight_layout()
    gf.plots.save(fig, out / "gd_vs_gf_stability.png")
    plt.close(fig)
    return {
        "eigenvalues": EIGENVALUES,
        "sharpness": lam,
        "runs": {
            f"{lr:.6g}": {
                "lr_times_sharpness": lr * lam,
                "status": runs[lr].status,
                "message": runs[lr].message,
                "last_step": int(runs[lr].steps[-1]),
                "last_loss": float(runs[lr].loss[-1]),
                "warnings": warned[lr],
            }
            for lr in runs
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/gd_vs_gf"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    order = order_figure(args.out)
    print(f"linear network, error at T = {order['t_order']:g} for η = {order['lrs']}:")
    print("  ", np.array2string(np.array(order["errors_at_t_order"]), precision=4))
    print(
        "   ratios per halving",
        np.round(order["ratios_per_halving"], 3).tolist(),
        f"fitted order {order['fitted_order']:.4f}",
    )
    stability = stability_figure(args.out)
    print(f"quadratic, λ_max = {stability['sharpness']:g} (Lanczos):")
    for lr, run in stability["runs"].items():
        print(
            f"   η = {lr}: η·λ_max = {run['lr_times_sharpness']:.2f}, status {run['status']}, "
            f"last step kept {run['last_step']}, loss there {run['last_loss']:.3g}"
        )
        for message in run["warnings"]:
            print("     warning:", message)
    (args.out / "results.json").write_text(
        json.dumps({"order": order, "stability": stability}, indent=2)
    )
    print("wrote", *sorted(args.out.iterdir()), sep="\n  ")


if __name__ == "__main__":
    main()
