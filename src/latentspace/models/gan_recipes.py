"""The GAN's recipes: defaults of the parameters left at None, by modality and by loss, with where
each was measured. ``recipe(...)`` resolves them for a dataset; a GAN resolves them once, when it
is built, into ``settings_`` (recorded in ``model.json`` as the settings actually used).

Keys are modality names; a modality without an entry takes ``"spatial"`` (any modality with
spatial dimensions) or ``"points"`` (the others).
"""

from __future__ import annotations

#: defaults of the parameters left at None, by modality, for ``loss="ns"`` (and, unless
#: ``loss_recipes`` says otherwise, for the other losses): for points a recipe measured on
#: grid25 (see docs/gan-grid25.md); the DCGAN recipe for images; for volumes the DCGAN
#: recipe with the 3-D GAN's discriminator gate (Wu et al. 2016) and a light mode-seeking
#: term, measured on the ModelNet10 chairs (docs/gan-family.md); ``steps`` is the default
#: training length, ``lr_schedule`` (if given) the default schedule
RECIPES = {
    "points": dict(steps=12000, batch_size=256, width=64,
                   optimizer="adam", lr=1e-3, lr_d=3e-3, beta1=0.0, beta2=0.9, d_steps=1,
                   instance_noise=0.1, r1_gamma=0.0, top_k=0.5, rejection_sampling=True, gp_lambda=10.0,
                   d_gate=0.0, mode_seeking=0.0),
    "spatial": dict(steps=6000, batch_size=256, width=64,
                    optimizer="adam", lr=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, d_steps=1,
                    instance_noise=0.0, r1_gamma=0.0, top_k=1.0, rejection_sampling=False, gp_lambda=10.0,
                    d_gate=0.0, mode_seeking=0.0),
}
#: (a linearly decaying learning rate let the 3-D GAN drift into noisy, less varied chairs
#: over the last third of the run; a constant one does not)
RECIPES["volume"] = {**RECIPES["spatial"], "steps": 3600, "lr_schedule": "constant", "d_gate": 0.8,
                     "mode_seeking": 0.05}
#: what each loss changes in ``recipes``, by modality ("spatial" also stands for "volume" when
#: that has no entry): the papers' settings for images and volumes; for points, wgan-gp's
#: were measured on grid25 (docs/gan-grid25.md). The Wasserstein critics take no gate.
LOSS_RECIPES = {
    "lsgan": {"points": dict(rejection_sampling=False), "spatial": {}},
    "hinge": {"points": dict(rejection_sampling=False), "spatial": {}},
    "wgan": {kind: dict(optimizer="rmsprop", lr=5e-5, lr_d=5e-5, d_steps=5, instance_noise=0.0, top_k=1.0,
                        rejection_sampling=False, d_gate=0.0) for kind in ("points", "spatial")},
    "wgan-gp": {
        # measured on grid25: TTUR with one critic step per generator step, a gentler penalty
        "points": dict(lr=2e-3, lr_d=6e-3, beta1=0.0, beta2=0.9, d_steps=1, gp_lambda=1.0, instance_noise=0.0,
                       top_k=1.0, rejection_sampling=False),
        "spatial": dict(lr=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9, d_steps=5, instance_noise=0.0, top_k=1.0,
                        rejection_sampling=False, d_gate=0.0),
    },
}


#: what a CPU changes in the defaults above (``sized_for="cpu"``: training on the CPU), by modality:
#: images get the DCGAN networks at a quarter of the work per step (width 32, batch 64); the GPU-sized
#: defaults would take about two hours on MNIST on 2 cores. Volumes and points were measured on a CPU
#: already and keep their recipes.
CPU_RECIPES = {"image": dict(width=32, batch_size=64), "spectrogram": dict(width=32, batch_size=64)}
#: and, with the non-saturating loss (``gan``, ``dcgan``), the run's length and learning rates, measured
#: on MNIST on 2 cores (docs/gan-family.md): 8,500 steps in 566 s at Adam 6e-4 for both networks give
#: FD 0.62, precision 0.79, recall 0.94 (at 4e-4: FD 0.69, precision 0.76; at 2e-4: FD 1.13, precision
#: 0.73, recall 0.93). The Wasserstein losses keep their papers' rates and step counts (not yet measured here).
CPU_NS_RECIPES = {kind: dict(steps=8500, lr=6e-4, lr_d=6e-4) for kind in ("image", "spectrogram")}


def recipe(recipes: dict, loss_recipes: dict, info, loss: str, sized_for: str = "gpu",
           cpu_ns: dict = CPU_NS_RECIPES) -> dict:
    """The defaults for data described by ``info`` and the loss ``loss``: ``recipes`` updated by ``loss_recipes``,
    then, when ``sized_for == "cpu"``, by ``CPU_RECIPES`` (and ``cpu_ns`` for the non-saturating loss)."""
    kind = "spatial" if info.spec.spatial else "points"
    by_loss = loss_recipes.get(loss, {})
    spec = info.spec
    out = {**spec.lookup(recipes, recipes[kind]), **spec.lookup(by_loss, by_loss.get(kind, {}))}
    if sized_for == "cpu":
        out.update(spec.lookup(CPU_RECIPES, {}))
        if loss == "ns":
            out.update(spec.lookup(cpu_ns, {}))
    return out


def sizing_note(recipes: dict, loss_recipes: dict, info, loss: str, sized_for: str,
                cpu_ns: dict = CPU_NS_RECIPES) -> str | None:
    """The line ``latentspace train`` prints when the defaults were sized for a CPU, or None."""
    if sized_for != "cpu" or not info.spec.lookup(CPU_RECIPES):
        return None
    cpu, gpu = (recipe(recipes, loss_recipes, info, loss, k, cpu_ns) for k in ("cpu", "gpu"))
    return (f"defaults sized for a CPU: width {cpu['width']}, batch size {cpu['batch_size']}, {cpu['steps']:,} "
            f"steps, lr {cpu['lr']:g}, about 10 minutes on 2 cores for 28x28 images (on a GPU: width "
            f"{gpu['width']}, batch size {gpu['batch_size']}, {gpu['steps']:,} steps, lr {gpu['lr']:g}); --set, "
            "--batch-size, --steps or --time choose others")
