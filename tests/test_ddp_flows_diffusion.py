"""The flow, diffusion and flow-matching families under DDP: two CPU processes (gloo) end with identical weights.

The flow's actnorm layers initialise themselves from the first batch, which differs between ranks: without the
broadcast in ``Flow._initialise_actnorm`` the two ranks' weights drift apart from the first step on. The
variational dequantisation's noise network trains beside the flow (``flow-variational``, 8-bit digits)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_same_weights

SCRIPT = textwrap.dedent("""
    import sys
    import torch.distributed as dist
    from safetensors.torch import save_file
    import latentspace as ls

    case, out = sys.argv[1], sys.argv[2]
    name, small = {"flow": ("flow", {"depth": 2, "width": 8}), "ddpm": ("ddpm", {"width": 8}),
                   "flow-matching": ("flow-matching", {"width": 8}),
                   "flow-variational": ("flow", {"depth": 2, "width": 8, "dequantize": "variational"})}[case]
    data = ls.data.load("digits")
    if case == "flow-variational":        # the digits on 256 levels: 8-bit items, dequantised
        x = (data.to_data(data.x) * 255).round() / 255
        data = ls.data.from_array(x.numpy(), name="digits-8bit")
    model = ls.models.create(name, **small).fit(data, steps=4, batch_size=32, seed=3, progress=False)
    rank = dist.get_rank()
    state = {f"{n}.{k}": v.contiguous() for n, net in model.nets_.items() for k, v in net.state_dict().items()}
    save_file(state, f"{out}/rank{rank}.safetensors")
    dist.barrier()
""")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["flow", "ddpm", "flow-matching", "flow-variational"])
def test_two_cpu_processes_end_with_identical_weights(name, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), name, str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert_same_weights(r0, r1)
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in r0.values())
