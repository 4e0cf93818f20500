r"""Vector-quantised VAE (van den Oord, Vinyals & Kavukcuoglu 2017) with a PixelCNN prior.

An encoder maps an item :math:`x` to a grid of vectors :math:`z_e(x) \in \mathbb R^{D}` (one per
grid position), each replaced by its nearest entry of a codebook :math:`e \in \mathbb R^{K \times D}`:

.. math::
    k(x) = \arg\min_j \| z_e(x) - e_j \|_2, \qquad z_q(x) = e_{k(x)},

and a decoder gives the likelihood :math:`p(x|z_q)` (Bernoulli logits for images and volumes in
[0, 1], a Gaussian with a learned per-feature variance otherwise). The VQ-VAE maximises, per item,

.. math::
    \log p(x|z_q(x)) - \|\mathrm{sg}[z_e(x)] - e\|_2^2 - \beta \|z_e(x) - \mathrm{sg}[e]\|_2^2,

i.e. it minimises :math:`L = -\log p(x|z_q) + \|\mathrm{sg}[z_e] - e\|^2 + \beta\|z_e - \mathrm{sg}[e]\|^2`
(squared norms summed over the grid), where :math:`\mathrm{sg}` stops gradients. The decoder's
gradient reaches the encoder *straight through* the quantiser (:math:`z_q + z_e - \mathrm{sg}[z_e]`
in the forward pass). With ``decay`` :math:`\gamma > 0` (the default) the codebook term is
replaced by exponential moving averages (the paper's appendix A.1): for each code :math:`i`,
with :math:`n_i` the number of batch vectors assigned to it and :math:`s_i` their sum,

.. math::
    N_i \leftarrow \gamma N_i + (1 - \gamma) n_i, \qquad
    m_i \leftarrow \gamma m_i + (1 - \gamma) s_i, \qquad e_i = m_i / N_i,

so :math:`e_i` is a weighted mean of the vectors ever assigned to it, recent ones weighing more
(:math:`N` and :math:`m` start at 0; a code is only moved once it has been used, so no Laplace
smoothing is needed). Codes unused for ``restart_after`` steps are *restarted*: set to a random
encoder output of the current batch (Dhariwal et al. 2020), and at the first step every code is
initialised that way. The batch's codebook usage is logged as the perplexity
:math:`\exp(-\sum_i p_i \log p_i)` with :math:`p_i` the share of vectors assigned to code :math:`i`
(K for uniform usage, 1 when one code takes all).

**Prior.** The VQ-VAE's own prior is uniform over codes; to *generate*, a PixelCNN (van den Oord
et al. 2016) learns :math:`p(k) = \prod_t p(k_t | k_{<t})` over the code grid in raster order,
with masked convolutions (mask type A on the first layer: a position does not see itself; type B
after) and gated residual blocks :math:`h + W_{1\times 1}(\tanh(W_f * h) \odot \sigma(W_g * h))`.
``fit`` runs two stages in one run of ``steps`` steps: the VQ-VAE for the first
``1 - prior_fraction`` of them, then the PixelCNN on the codes of training batches from the frozen
encoder. ``sample`` draws codes ancestrally from the PixelCNN and decodes them.

**Likelihood.** With the deterministic one-hot posterior :math:`q(k|x) = [k = k(x)]` the ELBO has
no entropy term, and

.. math::
    \log p(x) = \log \sum_k p(k) p(x|e_k) \ge \log p(x|z_q(x)) + \log p_\text{prior}(k(x)),

a deterministic lower bound (``score_samples``); importance sampling with :math:`k` draws does not
apply, since :math:`q` has a single point.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.likelihoods import LIKELIHOOD_OF, auto_likelihood, log_px_given_z, unit_mean
from latentspace.models.vqvae_nets import (ConvVQDecoder, ConvVQEncoder, GatedResBlock, MaskedConv,  # noqa: F401
                                           MLPVQDecoder, MLPVQEncoder, PixelCNN, VectorQuantizer, causal_mask,
                                           grid_sizes, perplexity)
from latentspace.models.neural import NeuralModel
from latentspace.models.vae_nets import LogVar


@register
class VQVAE(NeuralModel):
    """A VQ-VAE with EMA codebook, dead-code restarts and a PixelCNN prior over its code grid.

    Images and spectrograms use 2-D convs, volumes 3-D convs; the code grid is sized from the
    data (see :func:`grid_sizes`: 28x28 MNIST -> 7x7 codes, 8x8 digits -> 4x4). Points use MLPs
    and ``slots`` code vectors per item (a 1 x slots grid for the PixelCNN). One ``fit`` trains the
    VQ-VAE for the first ``1 - prior_fraction`` of the steps, then the PixelCNN prior on the codes
    of the frozen encoder; an ``lr_schedule`` runs within each stage (so the prior starts at the
    full ``prior_lr``). Resuming within one planned run is exact.

    Logged: ``rec`` (-log p(x|z_q), nats per item), ``commit`` (||z_e - sg[e]||^2 per item),
    ``perplexity`` and ``usage`` (share of codes used) of the batch, ``restarts``; then
    ``prior_nll`` (-log p(k), nats per item) in the prior stage. A logging window that straddles
    the switch averages each column over the whole window.

    Parameters
    ----------
    num_embeddings : int
        Codebook size K.
    embedding_dim : int
        Code vector size D.
    beta : float
        Weight of the commitment loss.
    decay : float
        EMA decay gamma of the codebook in [0, 1); 0 learns the codebook by gradient of
        ``||sg[z_e] - e||^2`` instead.
    restart_after : int
        Training steps a code may stay unused before it is restarted from a random encoder
        output of the batch (0: never).
    width, res_blocks : int
        Channels and residual blocks of the conv encoder and decoder (images, volumes).
    downsample : int
        Halvings from the item to the code grid (0: chosen from the data, see :func:`grid_sizes`).
    slots, hidden, layers : int
        Points only: code vectors per item, MLP width and depth.
    likelihood : {"auto", "bernoulli", "gaussian"}
        Decoder likelihood; ``auto`` is Bernoulli (logits) for binary-like data in [0, 1] (ink on a
        background, occupancies: see :func:`~latentspace.models.likelihoods.binary_like`), a
        Gaussian with a learned per-feature variance otherwise (grey pictures, points, spectrograms).
    lr : float
        Adam learning rate of the VQ-VAE.
    prior_width, prior_layers : int
        Channels and gated residual blocks of the PixelCNN.
    prior_lr : float
        Adam learning rate of the PixelCNN.
    prior_fraction : float
        Share of the training steps given to the prior, in (0, 1).

    Attributes
    ----------
    grid_ : tuple
        Shape of the code grid of one item.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> vq = ls.models.create("vqvae", width=16, prior_width=16).fit(data, steps=10, progress=False)
    >>> vq.encode(data.test.to_data()[:2]).shape   # code indices on a 4x4 grid
    torch.Size([2, 4, 4])
    >>> vq.sample(3, seed=0).shape
    torch.Size([3, 1, 8, 8])
    """

    name = "vqvae"
    likelihood_kind = "bound"
    encodes = True
    latent = "discrete"
    choices = {"likelihood": ("auto", "bernoulli", "gaussian")}
    default_steps = 6000
    default_batch_size = 128

    grid_ = None

    def __init__(self, num_embeddings: int = 128, embedding_dim: int = 16, beta: float = 0.25, decay: float = 0.99,
                 restart_after: int = 20, width: int = 32, res_blocks: int = 2, downsample: int = 0,
                 slots: int = 2, hidden: int = 128, layers: int = 2, likelihood: str = "auto", lr: float = 1e-3,
                 prior_width: int = 48, prior_layers: int = 3, prior_lr: float = 1e-3,
                 prior_fraction: float = 0.5):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.beta = beta
        self.decay = decay
        self.restart_after = restart_after
        self.width = width
        self.res_blocks = res_blocks
        self.downsample = downsample
        self.slots = slots
        self.hidden = hidden
        self.layers = layers
        self.likelihood = likelihood
        self.lr = lr
        self.prior_width = prior_width
        self.prior_layers = prior_layers
        self.prior_lr = prior_lr
        self.prior_fraction = prior_fraction

    # -- checks and networks ---------------------------------------------------------------------
    #: the likelihood ``auto`` resolved to, from the training items' values (see ``auto_likelihood``)
    likelihood_ = None

    def _resolve(self, data) -> None:
        self.likelihood_ = (auto_likelihood(data.to_data(data.x[:2000]), data.info.clip, grey="gaussian")
                            if self.likelihood == "auto" else self.likelihood)

    @property
    def obs_model(self) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        if self.likelihood_ is not None:
            return self.likelihood_
        return "bernoulli" if self.info_.clip == (0.0, 1.0) else "gaussian"

    @property
    def likelihood_of(self) -> str:
        return LIKELIHOOD_OF[self.obs_model]

    def _check_params(self) -> None:
        for name in ("num_embeddings", "embedding_dim", "width", "slots", "hidden", "layers", "prior_width",
                     "prior_layers"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("res_blocks", "downsample", "restart_after"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.num_embeddings < 2:
            raise UserError(f"num_embeddings must be at least 2, got {self.num_embeddings}")
        if not 0.0 <= self.decay < 1.0:
            raise UserError(f"decay must lie in [0, 1) (0: learn the codebook by gradient), got {self.decay}")
        if not 0.0 < self.prior_fraction < 1.0:
            raise UserError(f"prior_fraction must lie strictly between 0 and 1, got {self.prior_fraction}")
        for name in ("beta", "lr", "prior_lr"):
            if not getattr(self, name) >= 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def _build(self, info):
        self._check_params()
        if self.obs_model == "bernoulli" and info.clip != (0.0, 1.0):
            raise UserError("likelihood 'bernoulli' needs data in [0, 1] (images or volumes); "
                            "use --set likelihood=gaussian")
        K, D = self.num_embeddings, self.embedding_dim
        if info.spec.spatial:
            if len(info.shape) not in (3, 4):
                raise UserError(f"vqvae takes images (C, H, W) or volumes (C, D, H, W), got items of shape "
                                f"{tuple(info.shape)}")
            sizes = grid_sizes(info.shape[1:], self.downsample)
            self.grid_ = sizes[-1]
            nets = {"encoder": ConvVQEncoder(info.shape, sizes, D, self.width, self.res_blocks),
                    "decoder": ConvVQDecoder(info.shape, sizes, D, self.width, self.res_blocks)}
        else:
            self.grid_ = (1, self.slots)
            nets = {"encoder": MLPVQEncoder(info.dim, self.slots, D, self.hidden, self.layers),
                    "decoder": MLPVQDecoder(info.shape, self.slots, D, self.hidden, self.layers)}
        nets["codebook"] = VectorQuantizer(K, D, self.decay, self.restart_after)
        nets["prior"] = PixelCNN(K, self.grid_, self.prior_width, self.prior_layers)
        if self.obs_model == "gaussian":
            nets["obs"] = LogVar(info.shape)
        return nets

    def configure_optimizers(self):
        vq = [p for name in ("encoder", "decoder", "codebook", "obs") if name in self.nets_
              for p in self.nets_[name].parameters() if p.requires_grad]
        self.opt_ = torch.optim.Adam(vq, lr=self.lr)
        self.prior_opt_ = torch.optim.Adam(self.nets_["prior"].parameters(), lr=self.prior_lr)
        return {"vqvae": self.opt_, "prior": self.prior_opt_}

    # -- the two training stages ----------------------------------------------------------------
    def prior_start(self, steps: int) -> int:
        """The first step (0-based) of the prior stage in a run of ``steps`` steps: the first
        ``round((1 - prior_fraction) * steps)`` steps (at least 1, at most ``steps - 1``) train the
        VQ-VAE, the rest the prior."""
        if steps < 2:
            return steps
        return min(steps - 1, max(1, round((1.0 - self.prior_fraction) * steps)))

    def lr_windows(self, steps: int) -> dict:
        """Each stage's optimizer trains in its own steps: an ``lr_schedule`` runs within each
        (so the prior starts at the full ``prior_lr``)."""
        switch = self.prior_start(steps)
        return {"vqvae": (0, switch), "prior": (switch, steps)}

    def train_step(self, batch, step):
        x = batch.x
        if step < self.prior_start(batch.steps):
            z_e = self.net("encoder")(x)
            self.nets_["codebook"].initialise(z_e, self.dist_)
            z_q, k, commit, codebook = self.net("codebook")(z_e)
            rec = -self._log_px_given_z(self._target(x), self.net("decoder")(z_q))
            loss = rec + self.beta * commit
            if self.decay == 0:
                loss = loss + codebook
            loss = loss.mean()
            self.opt_.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_.step()
            stats = self.nets_["codebook"].ema_update(z_e, k, self.dist_)
            return {"rec": rec.mean().item(), "commit": commit.mean().item(), **stats}
        with torch.no_grad():
            k = self.nets_["codebook"].codes(self.nets_["encoder"](x))
        nll = F.cross_entropy(self.net("prior")(k), k, reduction="none").flatten(1).sum(1).mean()
        self.prior_opt_.zero_grad(set_to_none=True)
        nll.backward()
        self.prior_opt_.step()
        return {"prior_nll": nll.item()}

    # -- the model's pieces ------------------------------------------------------------------------
    def _target(self, x):
        """Model-space items as the likelihood's target: [0, 1] intensities for Bernoulli."""
        return self.info_.to_data(x) if self.obs_model == "bernoulli" else x

    def _log_px_given_z(self, target, out):
        obs = self.obs_model
        return log_px_given_z(obs, target, out, self.net("obs")() if obs == "gaussian" else None)

    def _quantise(self, xm):
        """Model-space items -> code indices ``(n, *grid)``."""
        return self.nets_["codebook"].codes(self.nets_["encoder"](xm))

    def _decode_mean(self, z_q):
        out = self.nets_["decoder"](z_q)
        return self.info_.to_model(unit_mean("bernoulli", out)) if self.obs_model == "bernoulli" else out

    def _codes_to_vectors(self, k):
        z = self.nets_["codebook"].lookup(k)
        return z.contiguous(memory_format=torch.channels_last) if z.ndim == 4 else z

    @torch.no_grad()
    def _ancestral(self, u: torch.Tensor) -> torch.Tensor:
        """Code grids drawn position by position from the PixelCNN, with uniforms ``u`` (n, *grid)."""
        prior = self.nets_["prior"]
        k = torch.zeros(u.shape, dtype=torch.long, device=u.device)
        flat_k, flat_u = k.view(len(k), -1), u.reshape(len(u), -1)
        for t in range(flat_k.shape[1]):
            logits = prior(k).flatten(2)[:, :, t]
            cdf = torch.softmax(logits.double(), 1).cumsum(1)
            u_t = flat_u[:, t:t + 1].double().contiguous()
            flat_k[:, t] = torch.searchsorted(cdf, u_t).squeeze(1).clamp_max(cdf.shape[1] - 1)
        return k

    def _get_state(self):
        tensors, extra = super()._get_state()
        return tensors, {**extra, "likelihood": self.obs_model}

    def _set_state(self, tensors, extra):
        self.likelihood_ = extra.get("likelihood")  # the networks depend on it
        super()._set_state(tensors, extra)

    # -- the API ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_codes(self, n, *, seed=None) -> torch.Tensor:
        """``n`` code grids ``(n, *grid)`` drawn ancestrally from the PixelCNN prior (raster order)."""
        self._check_fitted()
        n = self._check_n(n)
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        u = torch.rand(n, *self.grid_, generator=g)  # on the CPU: the same codes on any device
        self.set_train(False)
        return self._batched(self._ancestral, u.to(self.device_)).cpu()

    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        """``n`` new items in data space: codes drawn from the PixelCNN prior, then decoded
        (decoder means: Bernoulli probabilities or Gaussian means)."""
        return self.decode(self.sample_codes(n, seed=seed))

    @torch.no_grad()
    def encode(self, x, vectors: bool = False) -> torch.Tensor:
        """Code indices ``(n, *grid)`` (int64) of data-space items ``x``; with ``vectors=True``
        the quantised vectors ``z_q`` ``(n, D, *grid)`` instead."""
        xm = self._as_model_space(x).to(self.device_)
        if xm.ndim == 4:
            xm = xm.contiguous(memory_format=torch.channels_last)
        self.set_train(False)
        k = self._batched(self._quantise, xm)
        return (self._batched(self._codes_to_vectors, k) if vectors else k).cpu()

    @torch.no_grad()
    def decode(self, z) -> torch.Tensor:
        """Data-space decoder means of code indices ``(n, *grid)`` (integers in [0, K)) or of
        code vectors ``(n, D, *grid)`` (floats, decoded as given, so they may lie between codes)."""
        self._check_fitted()
        z = torch.as_tensor(z)
        grid, K, D = tuple(self.grid_), self.num_embeddings, self.embedding_dim
        self.set_train(False)
        if not z.is_floating_point():
            if tuple(z.shape[1:]) != grid or z.ndim != len(grid) + 1:
                raise UserError(f"code indices must have shape (n, {', '.join(map(str, grid))}), got {tuple(z.shape)}")
            if len(z) and (int(z.min()) < 0 or int(z.max()) >= K):
                raise UserError(f"code indices must lie in 0..{K - 1}, got {int(z.min())}..{int(z.max())}")
            z = self._batched(self._codes_to_vectors, z.long().to(self.device_))
        else:
            if tuple(z.shape[1:]) != (D, *grid):
                raise UserError(f"code vectors must have shape (n, {D}, {', '.join(map(str, grid))}) or integer "
                                f"indices (n, {', '.join(map(str, grid))}), got {tuple(z.shape)}")
            if not torch.isfinite(z).all():
                raise UserError("code vectors contain NaN or inf")
            z = z.float().to(self.device_)
            if z.ndim == 4:
                z = z.contiguous(memory_format=torch.channels_last)
        return self._to_data(self._batched(self._decode_mean, z))

    @torch.no_grad()
    def prior_log_prob(self, k) -> torch.Tensor:
        """log p(k) of code grids ``(n, *grid)`` under the PixelCNN prior (nats per item)."""
        self._check_fitted()
        k = torch.as_tensor(k).long().to(self.device_)
        self.set_train(False)

        def one(kb):
            return -F.cross_entropy(self.nets_["prior"](kb), kb, reduction="none").flatten(1).sum(1)

        return self._batched(one, k).cpu().double()

    @torch.no_grad()
    def elbo(self, x) -> torch.Tensor:
        """Per-item ELBO ``log p(x|z_q(x)) + log p(k(x))`` (nats) of data-space items ``x``: the
        same as :meth:`score_samples`."""
        xm = self._as_model_space(x).to(self.device_)
        if xm.ndim == 4:
            xm = xm.contiguous(memory_format=torch.channels_last)
        self.set_train(False)

        def one(b):
            k = self._quantise(b)
            log_px = self._log_px_given_z(self._target(b), self.nets_["decoder"](self._codes_to_vectors(k)))
            log_pk = -F.cross_entropy(self.nets_["prior"](k), k, reduction="none").flatten(1).sum(1)
            return log_px + log_pk

        jacobian = self._log_det_to_data() if self.obs_model == "gaussian" else 0.0
        return self._batched(one, xm).cpu().double() + jacobian

    @torch.no_grad()
    def score_samples(self, x, k: int | None = None) -> torch.Tensor:
        """A lower bound on log p(x) per data-space item (nats): ``log p(x|z_q(x)) + log p(k(x))``.

        With the one-hot posterior q(k|x) = [k = k(x)] the ELBO has no entropy term, and
        ``log p(x) = log sum_k p(k) p(x|e_k) >= log p(k(x)) p(x|e_k(x))``: one term of the sum. The
        bound is deterministic; ``k`` (importance samples, for the VAE family) does not apply
        and is ignored. For the Bernoulli likelihood it bounds the log-probability of binary
        data (for grey levels it is the Bernoulli cross-entropy, not a density); for the
        Gaussian it is a log-density in data space.
        """
        return self.elbo(x)
