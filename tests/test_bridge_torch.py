"""gradcheck.torch: torch rules judged against float64 evidence, each claimed property on a real case.

Skipped with the reason where torch is absent, except in CI (CI=true), which installs it: there a missing
torch fails the run rather than skipping the tests silently.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gradcheck
from gradcheck.core import _recording

if os.environ.get("CI") == "true":
    import torch  # CI installs the torch extra (.ci/run): its absence is a failure, not a skip
else:
    torch = pytest.importorskip("torch", reason="gradcheck.torch needs torch: pip install 'gradcheck[torch]'")

import gradcheck.torch as gt  # noqa: E402

LOW = [torch.float32, torch.float16, torch.bfloat16]


def test_ci_has_torch() -> None:
    """CI must run these tests: it installs the extra."""
    assert torch.__version__


class TanhMatmul(torch.autograd.Function):
    """tanh(a @ b), with a right backward."""

    @staticmethod
    def forward(ctx, a, b):
        y = torch.tanh(a @ b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        gy = g * (1 - y * y)
        return gy @ b.T, a.T @ gy


class TransposedB(TanhMatmul):
    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        gy = g * (1 - y * y)
        return gy @ b.T, (a.T @ gy).T  # square b: the transpose has the right shape


class NoGradForB(TanhMatmul):
    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        return (g * (1 - y * y)) @ b.T, None


def _inputs(dtype=torch.float64, n=4):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, n, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
    b = (torch.randn(n, n, generator=g, dtype=torch.float64) / 2).to(dtype).requires_grad_()
    return a, b


@pytest.mark.parametrize("dtype", [torch.float64, *LOW], ids=str)
def test_a_right_rule_passes_in_every_dtype(dtype) -> None:
    r = gt.check_vjp(TanhMatmul.apply, _inputs(dtype), cotangents=2)
    assert r.ok, str(r)
    assert set(r.params) == {"a", "b"} and r.function == "backward of TanhMatmul.apply"
    if dtype != torch.float64:
        tol = r.params["a"].tolerance
        assert tol.dtype == str(dtype).replace("torch.", "") and tol.multiplier == 2.0 and tol.floor_ulps == 4.0
        assert "own rounding" in tol.baseline and "4 ulps" in str(r)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16], ids=str)
def test_a_transposed_gradient_is_caught_on_its_input(dtype) -> None:
    r = gt.check_vjp(TransposedB.apply, _inputs(dtype), cotangents=2)
    assert r.params["a"].ok and r.params["b"].failed


def test_a_missing_input_gradient_is_named() -> None:
    r = gt.check_vjp(NoGradForB.apply, _inputs(), cotangents=1)
    assert r.params["a"].ok and r.params["b"].failed
    assert r.params["b"].diagnosis == "the rule returns no gradient for input 'b' (None, read as zeros)"


class Sigmoid16(torch.autograd.Function):
    """A float16 kernel: sigmoid with a backward from the saved output, right in every dtype."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class Sigmoid16LosesATerm(Sigmoid16):
    """The float16 path drops the -y^2 term: right in float64, wrong in the production dtype."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y if y.dtype == torch.float16 else g * y * (1 - y)


def _x16():
    return (torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(4, 6)).to(torch.float16).requires_grad_()


def test_a_correct_float16_kernel_is_not_flagged() -> None:
    r = gt.check_vjp(Sigmoid16.apply, (_x16(),))
    assert r.ok, str(r)
    assert r.params["x"].resolution < 0.05


def test_a_float16_kernel_that_loses_a_term_is_caught_in_float16_only() -> None:
    assert gt.check_vjp(Sigmoid16LosesATerm.apply, (_x16().detach().double().requires_grad_(),)).ok
    r = gt.check_vjp(Sigmoid16LosesATerm.apply, (_x16(),))
    assert r.params["x"].failed and "low precision" in " ".join(r.notes)


def test_a_reference_kernel_is_the_stated_baseline() -> None:
    r = gt.check_vjp(Sigmoid16.apply, (_x16(),), reference=torch.sigmoid, cotangents=1)
    assert r.ok and "reference= kernel" in r.params["x"].tolerance.baseline
    bad = gt.check_vjp(Sigmoid16LosesATerm.apply, (_x16(),), reference=torch.sigmoid, cotangents=1)
    assert bad.params["x"].failed


class ShuffledSum(torch.autograd.Function):
    """Row sums whose backward adds its terms in an order that changes from run to run, as atomics do."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * x).sum(dim=1)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        noise = torch.from_numpy(np.random.default_rng().standard_normal(x.shape) * 1e-12)  # not torch's RNG
        return 2 * x * g[:, None] + noise


def test_a_nondeterministic_backward_is_reported_with_its_spread() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    r = gt.check_vjp(ShuffledSum.apply, (x,), cotangents=1)
    assert r.params["x"].failed and r.params["x"].diagnosis.startswith("nondeterministic")
    ok = gt.check_vjp(ShuffledSum.apply, (x,), cotangents=1, nondeterminism=1e-9)
    assert ok.ok and "nondeterministic" in ok.params["x"].note


class WritesGradOutput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        g.mul_(2 * x)  # in place on grad_output
        return g


class WritesItsInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x.mul_(1.0).add_(0.5)  # the caller's input, changed in place
        ctx.save_for_backward(x)
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g


def test_a_write_to_grad_output_is_caught() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradcheck.MutatingFunctionError, match="modified grad_output .*output 'out'.* at index"):
        gt.check_vjp(WritesGradOutput.apply, (x,))


def test_a_write_to_an_input_is_caught_and_the_callers_tensor_is_kept() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    with pytest.raises(gradcheck.MutatingFunctionError, match="'x'"):
        gt.check_vjp(WritesItsInput.apply, (x,))
    assert torch.equal(x.detach(), before)


class Dropout(torch.autograd.Function):
    """Dropout with its mask drawn in forward from torch's RNG: reproducible only if every evaluation is reseeded."""

    @staticmethod
    def forward(ctx, x):
        mask = (torch.rand(x.shape, dtype=torch.float64) > 0.5).to(x.dtype) * 2
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


def test_a_random_op_is_checked_on_one_mask_and_the_callers_rng_and_threads_are_left_alone() -> None:
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(123)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    r = gt.check_vjp(Dropout.apply, (x,), cotangents=1)
    assert r.ok, str(r)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads  # the check runs on one thread, and gives the caller's back


class Affine(torch.nn.Module):
    """A module whose bias gradient is a factor 2 off through its custom Function."""

    class _F(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x @ w.T + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g @ w, g.T @ x, 2 * g.sum(0)

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(2, 3, generator=torch.Generator().manual_seed(2)))
        self.bias = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return self._F.apply(x, self.weight, self.bias)


def test_a_module_checks_its_parameters_by_name_and_is_left_as_it_was() -> None:
    m = Affine()
    before = m.weight.detach().clone()
    x = torch.randn(4, 3, requires_grad=True)
    r = gt.check_vjp(m, (x,), cotangents=1)
    assert set(r.params) == {"x", "weight", "bias"}
    assert r.params["x"].ok and r.params["weight"].ok and r.params["bias"].failed
    assert "2 x numerical" in r.params["bias"].diagnosis
    assert m.weight.dtype == torch.float32 and torch.equal(m.weight.detach(), before)


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return (z * z.conj()).real

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return 2 * g * z  # torch's convention: d/dRe + i d/dIm


class SquareOtherConvention(Square):
    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return 2 * g * z.conj()


def test_complex_inputs_follow_torchs_convention_and_the_other_is_named() -> None:
    z = torch.randn(4, dtype=torch.complex128, requires_grad=True)
    assert gt.check_vjp(Square.apply, (z,), cotangents=1).ok
    r = gt.check_vjp(SquareOtherConvention.apply, (z,), cotangents=1)
    assert r.params["z.real"].ok and r.params["z.imag"].failed
    assert "jax's" in r.params["z.imag"].diagnosis


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g

    @staticmethod
    def jvp(ctx, v):
        (x,) = ctx.saved_tensors
        return 3 * x * x * v


class CubeWrongJvp(Cube):
    @staticmethod
    def jvp(ctx, v):
        (x,) = ctx.saved_tensors
        return 2 * x * x * v


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16], ids=str)
def test_forward_mode_rules(dtype) -> None:
    x = torch.linspace(-1, 1, 5, dtype=torch.float64).to(dtype)
    assert gt.check_jvp(Cube.apply, (x,), tangents=1).ok
    r = gt.check_jvp(CubeWrongJvp.apply, (x,), tangents=1)
    assert r.params["x"].failed and "2/3" in r.params["x"].diagnosis


def test_one_record_per_check_and_the_result_serialises() -> None:
    seen = []
    handle = _recording.listen(seen.append)
    try:
        r = gt.check_vjp(TanhMatmul.apply, _inputs(torch.float16), cotangents=2)
    finally:
        _recording.unlisten(handle)
    assert seen == [r]
    back = gradcheck.GradCheckResult.from_dict(json.loads(r.to_json(arrays=True)))
    assert back.verdict == r.verdict and back.params["b"].n_checked == 2 * 16  # two cotangents, 16 entries each
    assert json.loads(r.to_json())["params"]["a"]["tolerance"]["multiplier"] == 2.0
    assert "4 ulps of float16" in back.params["a"].tolerance.describe()  # what a report prints, read back


def test_assert_vjp_and_bad_options() -> None:
    with pytest.raises(gradcheck.GradientMismatch, match="backward of TransposedB.apply"):
        gt.assert_vjp(TransposedB.apply, _inputs(), cotangents=1)
    with pytest.raises(gradcheck.InvalidArgumentError, match="multiplier=0.5"):
        gt.check_vjp(TanhMatmul.apply, _inputs(), multiplier=0.5)
    with pytest.raises(gradcheck.ParameterError, match="nothing to check"):
        gt.check_vjp(lambda n: torch.ones(3) * n, (torch.tensor(3),))


class IgnoresGradOutput(Sigmoid16):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (1 - y)  # the chain rule's g left out


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=str)
def test_a_backward_that_ignores_grad_output_is_diagnosed(dtype) -> None:
    r = gt.check_vjp(IgnoresGradOutput.apply, (_x16().detach().to(dtype),), cotangents=2)
    assert r.failed and r.params["x"].diagnosis.startswith("the product is not linear in the cotangent")


def test_a_rule_registered_as_a_derivation_is_checked_by_the_registry() -> None:
    def make(rng, n=4):
        a = torch.from_numpy(rng.standard_normal((3, n)))
        b = torch.from_numpy(rng.standard_normal((n, n)) / 2)
        return a.requires_grad_(), b.requires_grad_()

    right = gt.register(name="tests.torch.tanh_matmul", fn=TanhMatmul.apply, make=make, replace=True)
    wrong = gt.register(name="tests.torch.tanh_matmul_transposed", fn=TransposedB.apply, make=make, replace=True,
                        expected_correct=False)
    assert right.sizes == {"n": 4}
    assert right.check(seed=1).ok
    r = wrong.check(seed=1, sizes={"n": 5})
    assert r.params["a"].ok and r.params["b"].failed


class HalfOnly(Sigmoid16):
    @staticmethod
    def forward(ctx, x):
        if x.dtype != torch.float16:
            raise TypeError("this kernel takes float16 only")
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y


def test_a_callable_that_cannot_run_in_float64_says_so() -> None:
    with pytest.raises(gradcheck.LossRaisedError, match="cannot run in float64 on upcast copies"):
        gt.check_vjp(HalfOnly.apply, (_x16(),))
