r"""CycleGAN: unpaired image-to-image translation (Zhu et al. 2017).

Two domains :math:`A` and :math:`B` of items of one shape, given as two unpaired sets.
Two generators translate between them, :math:`G: A \to B` and :math:`F: B \to A`, and two
discriminators score patches of their own domain: :math:`D_B` tells real :math:`b` from
:math:`G(a)`, :math:`D_A` real :math:`a` from :math:`F(b)`.

Adversarial losses, least-squares form (LSGAN, Mao et al. 2017), with :math:`D(x)` a map of
patch scores averaged over patches:

.. math::
    L_\text{GAN}(G, D_B) = \mathbb E_b (D_B(b) - 1)^2 + \mathbb E_a D_B(G(a))^2

The discriminator minimises :math:`\tfrac12 L_\text{GAN}(G, D_B)`; the generator the
non-saturating :math:`\mathbb E_a (D_B(G(a)) - 1)^2` (the same for :math:`F, D_A`).

Cycle consistency: translating there and back returns the item,

.. math::
    L_\text{cyc}(G, F) = \mathbb E_a \lVert F(G(a)) - a \rVert_1 + \mathbb E_b \lVert G(F(b)) - b \rVert_1

and identity: an item already in the target domain is left alone (Taigman et al. 2017),

.. math::
    L_\text{identity}(G, F) = \mathbb E_b \lVert G(b) - b \rVert_1 + \mathbb E_a \lVert F(a) - a \rVert_1 .

The generators minimise the full objective

.. math::
    L(G, F) = L_\text{GAN}(G) + L_\text{GAN}(F) + \lambda_\text{cyc} L_\text{cyc}(G, F)
              + \lambda_\text{id} \lambda_\text{cyc} L_\text{identity}(G, F)

with :math:`\lambda_\text{cyc} = 10` and :math:`\lambda_\text{id} = 0.5`. Norms are means over
pixels in model space ([-1, 1] for images), as in the authors' code.

The discriminators see generated items through a *replay buffer* of the last
``pool_size`` = 50 (Shrivastava et al. 2017): once full, each new fake is, with probability
1/2, swapped for a random stored one (which :math:`D` sees instead), so :math:`D` remembers
what :math:`G` used to make and oscillation is damped.

Networks: a ResNet generator (c7s1-w, ``downsample`` stride-2 convs, ``blocks`` residual
blocks, as many stride-2 transposed convs, c7s1-C, tanh; InstanceNorm, reflection padding)
and a PatchGAN discriminator (``d_layers`` stride-2 4x4 convs, a stride-1 3x3 conv, a 3x3
conv to one score per patch). The paper's 70x70 PatchGAN on 256x256 images sees about a
quarter of the image's side; here, with ``d_layers=2`` on 28x28 images, each of the 7x7
scores sees a 26x26 patch. Weights start from N(0, 0.02); Adam with ``lr=2e-4``,
betas (0.5, 0.999).

Training through the engine: batches of domain A and of domain B both come from the engine,
B's from an independent index stream (a pure function of ``(seed, step)`` too, see
:func:`latentspace.train.engine.train`'s ``data_b``), so exact resume holds, and the replay
buffers are part of the checkpoint.

``translate(x, "a2b" | "b2a")`` maps data-space items; ``sample(n, seed=)`` translates
``n`` items of domain A (the default ``direction="a2b"``) drawn from a bank of
``bank_size`` training items kept with the model: samples of :math:`G_\# p_A \approx p_B`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from latentspace.data.dataset import DataInfo, Dataset
from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.nets import dcgan_init, eval_mode
from latentspace.models.neural import NeuralModel

DIRECTIONS = ("a2b", "b2a")


# -- networks ---------------------------------------------------------------------------------
def _conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
                    padding_mode: str = "zeros") -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding, padding_mode=padding_mode),
            nn.InstanceNorm2d(c_out), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """``x + conv-IN-ReLU-conv-IN(x)`` with 3x3 reflection-padded convs (the paper's R_k)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_norm_relu(channels, channels, 3, padding=1, padding_mode="reflect"),
                                  nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
                                  nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, ..., R x ``blocks``, ..., u2w, uw, c7s1-C (Johnson et al. 2016 as in CycleGAN)."""

    def __init__(self, channels: int, width: int = 32, blocks: int = 4, downsample: int = 2, out_act=None):
        super().__init__()
        layers = _conv_norm_relu(channels, width, 7, padding=3, padding_mode="reflect")
        c = width
        for _ in range(downsample):  # d_k: 3x3 stride-2 conv-IN-ReLU
            layers += _conv_norm_relu(c, 2 * c, 3, stride=2, padding=1)
            c *= 2
        layers += [ResidualBlock(c) for _ in range(blocks)]
        for _ in range(downsample):  # u_k: 3x3 stride-1/2 (transposed) conv-IN-ReLU
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.Conv2d(c, channels, 7, padding=3, padding_mode="reflect"), out_act or nn.Identity()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """A map of real/fake scores, one per overlapping patch: C_w-s2 (no norm), C_2w-s2, ..., C s1, score."""

    def __init__(self, channels: int, width: int = 32, layers: int = 2):
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for _ in range(layers - 1):
            body += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.InstanceNorm2d(2 * c), nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        body += [nn.Conv2d(c, 2 * c, 3, 1, 1), nn.InstanceNorm2d(2 * c), nn.LeakyReLU(0.2, inplace=True),
                 nn.Conv2d(2 * c, 1, 3, 1, 1)]
        self.model = nn.Sequential(*body)

    def forward(self, x):
        return self.model(x)


class ReplayBuffer(nn.Module):
    """The image pool of Shrivastava et al. (2017): the last ``size`` generated items, as buffers.

    Buffers (not plain attributes) so that checkpoints hold the pool and resume stays exact.
    Its random draws use torch's global generator, which the engine seeds and checkpoints.
    """

    def __init__(self, shape, size: int = 50):
        super().__init__()
        self.size = int(size)
        self.register_buffer("items", torch.zeros(self.size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """Items for the discriminator in place of ``fakes``.

        While the pool fills, every fake is stored and returned. Once full, each fake is,
        with probability 1/2, stored in a random slot and that slot's old item returned
        instead; otherwise returned as is.
        """
        if self.size == 0:
            return fakes
        out = []
        for fake in fakes.detach():
            n = int(self.count)
            if n < self.size:
                self.items[n] = fake
                self.count += 1
                out.append(fake)
            elif float(torch.rand(())) < 0.5:
                j = int(torch.randint(self.size, ()))
                out.append(self.items[j].clone())
                self.items[j] = fake
            else:
                out.append(fake)
        return torch.stack(out)


# -- losses -------------------------------------------------------------------------------------
def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (the paper's ||.||_1, averaged over pixels and items)."""
    return (x - y).abs().mean()


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean of (D(x) - 1)^2 for targets 'real', of D(x)^2 for 'fake'."""
    return (scores - float(real)).pow(2).mean()


# -- the model ----------------------------------------------------------------------------------
#: generator sizes on a GPU (the parameters left at None)
GPU_SIZES = {"width": 32, "blocks": 4}
#: what training on a CPU changes, measured on the bold-digit pair (docs/gan-family.md): width 16,
#: 3 residual blocks and 1,100 steps at batch 16 train in 463 s on one thread and keep the label on
#: 97.9% of translated test digits; the GPU sizes (width 32, 4 blocks, 2,000 steps) would take
#: several times as long
CPU_RECIPE = {"width": 16, "blocks": 3, "steps": 1100}


@register
class CycleGAN(NeuralModel):
    """CycleGAN: unpaired translation between two image domains A and B (``fit(data, data_b=...)``).

    Parameters
    ----------
    width : int or None
        Channels of the generators' first conv (doubled at each downsampling; paper: 64). None: 32,
        or 16 when training on a CPU (``CPU_RECIPE``).
    blocks : int or None
        Residual blocks of each generator (paper: 6 for 128x128, 9 for 256x256). None: 4, or 3 on a CPU.
    downsample : int
        Stride-2 convs (and as many transposed convs) of each generator; image sides must be
        divisible by ``2 ** downsample``.
    d_width : int
        Channels of the discriminators' first conv (paper: 64).
    d_layers : int
        Stride-2 convs of each PatchGAN discriminator (the patch grows with it; paper: 3).
    lambda_cyc : float
        Weight of the cycle-consistency loss.
    lambda_id : float
        Weight of the identity loss, relative to ``lambda_cyc`` (0 disables it).
    pool_size : int
        Generated items each discriminator's replay buffer holds (0: no buffer).
    lr, beta1, beta2 : float
        Adam settings of both the generators and the discriminators.
    bank_size : int
        Training items of each domain kept with the model for ``sample``.

    Examples
    --------
    >>> import latentspace as ls
    >>> a = ls.data.load("mnist-half", data_dir="../shared/data/mnist")      # doctest: +SKIP
    >>> b = ls.data.load("bold-mnist", data_dir="../shared/data/mnist")      # doctest: +SKIP
    >>> cg = ls.models.create("cyclegan").fit(a, data_b=b, steps=1500)       # doctest: +SKIP
    >>> cg.translate(a.test.to_data()[:8]).shape                             # doctest: +SKIP
    torch.Size([8, 1, 28, 28])
    """

    name = "cyclegan"
    #: trains on two datasets: ``fit(data, data_b=...)``, ``--data A --data-b B``
    two_domains = True
    default_steps = 2000
    default_batch_size = 16
    default_lr_schedule = "linear"

    def __init__(self, width: int | None = None, blocks: int | None = None, downsample: int = 2, d_width: int = 32,
                 d_layers: int = 2, lambda_cyc: float = 10.0, lambda_id: float = 0.5, pool_size: int = 50,
                 lr: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999, bank_size: int = 256):
        self.width = width
        self.blocks = blocks
        self.downsample = downsample
        self.d_width = d_width
        self.d_layers = d_layers
        self.lambda_cyc = lambda_cyc
        self.lambda_id = lambda_id
        self.pool_size = pool_size
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.bank_size = bank_size

    info_b_ = None
    bank_ = None

    # -- data ------------------------------------------------------------------------
    def fit(self, data: Dataset, data_b: Dataset | None = None, *, steps=None, batch_size=None, seed=None,
            out=None, resume: bool = False, overwrite: bool = False, log_every=None, sample_every=None,
            checkpoint_every=None, progress: bool = True, device=None, lr_schedule=None, time=None,
            callbacks=()) -> "CycleGAN":
        """Train on domain A (``data``) and domain B (``data_b``), two unpaired image sets.

        Parameters
        ----------
        data : Dataset
            Domain A.
        data_b : Dataset
            Domain B, items of the same shape as A's.
        steps, batch_size, seed, out, resume, ...
            As for :meth:`NeuralModel.fit`.
        """
        self._check_params()
        if data_b is None:
            raise UserError("cyclegan translates between two domains: give the second with "
                            "fit(data, data_b=...) (--data-b on the command line)")
        if not isinstance(data_b, Dataset) or not isinstance(data, Dataset):
            raise UserError("cyclegan expects two latentspace Datasets (see latentspace.data.load), got "
                            f"{type(data).__name__} and {type(data_b).__name__}")
        if tuple(data.shape) != tuple(data_b.shape):
            raise UserError(f"the two domains must have items of one shape: A ({data.name}) has "
                            f"{tuple(data.shape)}, B ({data_b.name}) has {tuple(data_b.shape)}; resize one of them")
        self._check_data(data_b)
        self.info_b_ = copy.deepcopy(data_b.info)
        seed = self.train_settings(data, out=out, resume=resume, seed=seed)["seed"]  # on resume: the run's
        self.bank_ = {"a": self._bank(data, 0, seed), "b": self._bank(data_b, 1, seed)}
        view = copy.copy(data)  # domain A, its source naming B too: a run folder can reload both
        if data.source is not None and data_b.source is not None:
            view.source = {**data.source, "data_b": data_b.source}
        return self._fit(view, data_b, steps=steps, batch_size=batch_size, seed=seed, out=out, resume=resume,
                         overwrite=overwrite, log_every=log_every, sample_every=sample_every,
                         checkpoint_every=checkpoint_every, progress=progress, device=device,
                         lr_schedule=lr_schedule, time=time, callbacks=callbacks)

    def _check_data(self, data: Dataset) -> None:
        if len(data.shape) != 3:
            raise UserError(f"cyclegan translates images (channels, height, width); {data.name} has items of "
                            f"shape {tuple(data.shape)}")
        size = f"{data.shape[1]}x{data.shape[2]}"
        side = 2 ** self.downsample  # the generators' smallest maps need 2x2 pixels (instance norm)
        if any(s % side or s < 2 * side for s in data.shape[1:]):
            raise UserError(f"cyclegan with downsample={self.downsample} needs image sides divisible by {side} "
                            f"and at least {2 * side}, got {size}; set downsample to a smaller value")
        if min(data.shape[1:]) < 2 ** (self.d_layers + 1):
            raise UserError(f"cyclegan with d_layers={self.d_layers} needs image sides of at least "
                            f"{2 ** (self.d_layers + 1)}, got {size}; set d_layers to a smaller value")

    def _bank(self, data: Dataset, domain: int, seed: int) -> torch.Tensor:
        """``bank_size`` training items (model space) of one domain, drawn with the seed, for ``sample``."""
        g = torch.Generator().manual_seed(int(seed) * 2 + domain)
        return data.x[torch.randperm(len(data), generator=g)[:self.bank_size]].clone()

    # -- networks ------------------------------------------------------------------------
    def sized_recipe(self, info) -> dict:
        return CPU_RECIPE if self.sized_for_ == "cpu" else {}

    def setting(self, name: str):
        """A network size: the parameter, else the CPU recipe's (on a CPU), else the GPU default."""
        value = getattr(self, name)
        if value is not None:
            return value
        return self.sized_recipe(self.info_).get(name, GPU_SIZES[name])

    def resolved_params(self) -> dict:
        return {**super().resolved_params(), "width": self.setting("width"), "blocks": self.setting("blocks")}

    def _check_params(self) -> None:
        for name in ("width", "blocks"):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value < (1 if name == "width" else 0)):
                raise UserError(f"{name} must be an integer >= {1 if name == 'width' else 0} (or None for the "
                                f"defaults sized for the device), got {value!r}")
        for name in ("d_width", "d_layers", "bank_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("downsample", "pool_size", "lambda_cyc", "lambda_id"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")

    def _build(self, info):
        self._check_params()
        channels = info.shape[0]
        out_act = nn.Tanh() if info.clip is not None else None  # bounded data: model space is [-1, 1]
        width, blocks = self.setting("width"), self.setting("blocks")
        nets = {"G": ResnetGenerator(channels, width, blocks, self.downsample, out_act),
                "F": ResnetGenerator(channels, width, blocks, self.downsample, out_act),
                "D_A": PatchDiscriminator(channels, self.d_width, self.d_layers),
                "D_B": PatchDiscriminator(channels, self.d_width, self.d_layers)}
        for net in nets.values():
            dcgan_init(net)
        nets["pool_A"] = ReplayBuffer(info.shape, self.pool_size)
        nets["pool_B"] = ReplayBuffer(info.shape, self.pool_size)
        return nets

    def configure_optimizers(self):
        betas = (self.beta1, self.beta2)
        gens = [p for k in ("G", "F") for p in self.nets_[k].parameters()]
        discs = [p for k in ("D_A", "D_B") for p in self.nets_[k].parameters()]
        self.opt_g_ = torch.optim.Adam(gens, lr=self.lr, betas=betas)
        self.opt_d_ = torch.optim.Adam(discs, lr=self.lr, betas=betas)
        return {"G": self.opt_g_, "D": self.opt_d_}

    # -- training --------------------------------------------------------------------------
    def generator_terms(self, a: torch.Tensor, b: torch.Tensor) -> dict:
        """The generators' loss terms on batches ``a``, ``b`` (model space), unweighted, and the fakes.

        Returns ``{"gan_G", "gan_F", "cycle", "identity", "fake_a", "fake_b"}``: the LSGAN
        losses of G (judged by D_B) and F (by D_A), L_cyc, L_identity (0 when
        ``lambda_id`` is 0), F(b) and G(a).
        """
        G, F, D_A, D_B = (self.net(k) for k in ("G", "F", "D_A", "D_B"))
        fake_b, fake_a = G(a), F(b)
        terms = {"gan_G": lsgan(D_B(fake_b), True), "gan_F": lsgan(D_A(fake_a), True),
                 "cycle": l1(F(fake_b), a) + l1(G(fake_a), b)}
        terms["identity"] = (l1(G(b), b) + l1(F(a), a) if self.lambda_id > 0
                             else torch.zeros((), device=a.device))
        return {**terms, "fake_a": fake_a, "fake_b": fake_b}

    def discriminator_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(L_GAN for D) / 2 = ((D(real) - 1)^2 + D(fake)^2) / 2, one forward pass on both."""
        scores = D(torch.cat([real, fake]))
        return 0.5 * (lsgan(scores[:len(real)], True) + lsgan(scores[len(real):], False))

    def train_step(self, batch, step):
        a, b = batch.x, batch.x_b
        t = self.generator_terms(a, b)
        loss_g = (t["gan_G"] + t["gan_F"] + self.lambda_cyc * t["cycle"]
                  + self.lambda_id * self.lambda_cyc * t["identity"])
        self.opt_g_.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g_.step()

        fake_a = self.nets_["pool_A"].query(t["fake_a"].detach())
        fake_b = self.nets_["pool_B"].query(t["fake_b"].detach())
        loss_d_a = self.discriminator_loss(self.net("D_A"), a, fake_a)
        loss_d_b = self.discriminator_loss(self.net("D_B"), b, fake_b)
        self.opt_d_.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_d_.step()
        return dict(loss_g=loss_g.item(), cycle=t["cycle"].item(), loss_d_a=loss_d_a.item(),
                    loss_d_b=loss_d_b.item(), gan_g=t["gan_G"].item(), gan_f=t["gan_F"].item(),
                    identity=t["identity"].item())

    # -- the API ------------------------------------------------------------------------------
    def _domains(self, direction: str):
        """(source info, generator name, target info) of ``direction``."""
        if direction not in DIRECTIONS:
            raise UserError(f"direction must be 'a2b' (G: A -> B) or 'b2a' (F: B -> A), got {direction!r}")
        return (self.info_, "G", self.info_b_) if direction == "a2b" else (self.info_b_, "F", self.info_)

    @torch.no_grad()
    def _translate_model(self, x: torch.Tensor, generator: str) -> torch.Tensor:
        net = self.nets_[generator]
        with eval_mode(net):
            return self._batched(net, x.to(self.device_), batch=256)

    @torch.no_grad()
    def translate(self, x, direction: str = "a2b") -> torch.Tensor:
        """Translate data-space items: ``G(x)`` from A to B (``"a2b"``) or ``F(x)`` from B to A (``"b2a"``).

        Parameters
        ----------
        x : array-like
            Items ``(n, *shape)`` in the source domain's data space (pixel intensities in [0, 1]).
        direction : {"a2b", "b2a"}

        Returns
        -------
        torch.Tensor
            The translations ``(n, *shape)``, in the target domain's data space.
        """
        self._check_fitted()
        source, generator, target = self._domains(direction)
        x = torch.as_tensor(x if isinstance(x, torch.Tensor) else np.asarray(x), dtype=torch.float32)
        if x.ndim < 1 or tuple(x.shape[1:]) != tuple(source.shape):
            raise UserError(f"items have shape {tuple(x.shape[1:])}, but the model translates items of shape "
                            f"{tuple(source.shape)}")
        if not torch.isfinite(x).all():
            raise UserError("items contain NaN or inf; remove or impute them first")
        y = self._translate_model(source.to_model(x), generator)
        return target.to_data(y.float().cpu().contiguous())

    @torch.no_grad()
    def sample(self, n, *, seed=None, direction: str = "a2b"):
        """Translations of ``n`` training items of the source domain (domain A by default), in data space.

        CycleGAN has no noise input: its samples are :math:`G(a)` for items :math:`a` of
        domain A, i.e. draws from :math:`G_\\# p_A`, which training makes close to
        :math:`p_B`. The items come from a bank of ``bank_size`` training items of each
        domain kept with the model, each used once per pass over the bank in a seeded
        order; so at most ``bank_size`` samples are distinct. Use :meth:`translate` for items
        of your own.
        """
        self._check_fitted()
        n = self._check_n(n)
        _, generator, target = self._domains(direction)
        bank = self.bank_["a" if direction == "a2b" else "b"]
        g = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.randint(2**62, ())))
        order = torch.cat([torch.randperm(len(bank), generator=g) for _ in range(math.ceil(n / len(bank)))])[:n]
        y = self._translate_model(bank[order], generator)
        return target.to_data(y.float().cpu().contiguous())

    # -- persistence ----------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = super()._get_state()
        tensors["nets"] = {k: v for k, v in tensors["nets"].items() if not k.startswith("pool_")}
        tensors["bank"] = dict(self.bank_)
        return tensors, {**extra, "info_b": self.info_b_.to_json()}

    def _set_state(self, tensors, extra):
        self.info_b_ = DataInfo.from_json(extra["info_b"])
        self.sized_for_ = extra.get("sized_for", "gpu")  # models saved before the sizing: GPU-sized networks
        self.build(self.info_, "cpu")
        for k, state in tensors["nets"].items():
            self.nets_[k].load_state_dict(state)
        self.bank_ = {k: v.float() for k, v in tensors["bank"].items()}
        self.set_train(False)
