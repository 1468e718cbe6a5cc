"""``gradcheck verify`` on formulas nobody wrote for it: detection, false WRONG, slips named, proofs, time.

The set: Matrix Cookbook traces, determinants, inverses, quadratic forms, norms and Kronecker/vec
identities; logistic, softmax and Poisson regression, ridge, elastic net, hinge, Huber, a tanh
network, attention, layer norm, Gaussian likelihoods in mean, precision and covariance; a third of
them wrong with the slips people make (each listed with the words a diagnosis naming it must
contain), most with symbolic or non-square sizes, a few in the language's newer functions.

Each formula runs in its own process (so a symbolic oracle that never returns is stopped at
``--timeout`` and counted, and the process start is part of the time), one after the other:

    PYTHONPATH=. nice python benchmarks/formulas.py                 # this worktree's code
    PYTHONPATH=/path/to/other/checkout nice python benchmarks/formulas.py   # another version's
    python benchmarks/formulas.py --only rayleigh --verbose         # a few, with each verdict
    python benchmarks/formulas.py --write-sheet all.toml && time gradcheck verify --sheet all.toml   # one process

Figures: right formulas called WRONG (must be 0), wrong formulas caught, INCONCLUSIVE, slips named
(of the wrong formulas with a named slip), right formulas proved for all sizes at matrix level,
formulas refused (not expressible), seconds per formula (median, 90th percentile, max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class F:
    name: str
    loss: str
    grads: dict[str, str]
    shapes: dict[str, str]
    expect: str = "right"
    slip: tuple[str, ...] = ()  # words a diagnosis naming the slip contains (any of them)
    defs: dict[str, str] = field(default_factory=dict)
    structure: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    layout: str = "numerator"
    order: str | None = None


def W(name: str, loss: str, grads: dict[str, str], shapes: dict[str, str], slip: tuple[str, ...] = (),
      **kw: Any) -> F:
    return F(name, loss, grads, shapes, "wrong", slip, **kw)


NN = {"X": "n,n"}
TRANSPOSE = ("transpos",)
DROPPED = ("dropped term",)
ORDER = ("wrong order",)
AXIS = ("axis",)
VEC = ("vec order",)
SYMMETRIC = ("symmetric",)
FACTOR = ("factor",)
SIGN = ("sign",)

COOKBOOK = [
    F("trace_AX", "trace(A@X)", {"X": "A.T"}, {"A": "n,m", "X": "m,n"}),
    F("trace_XA", "trace(X@A)", {"X": "A.T"}, {"X": "m,n", "A": "n,m"}),
    F("trace_AXB", "trace(A@X@B)", {"X": "A.T@B.T"}, {"A": "p,m", "X": "m,n", "B": "n,p"}),
    F("trace_AXtB", "trace(A@X.T@B)", {"X": "B@A"}, {"A": "p,n", "X": "m,n", "B": "m,p"}),
    F("trace_XtAX", "trace(X.T@A@X)", {"X": "(A + A.T)@X"}, {"A": "m,m", "X": "m,n"}),
    F("trace_XX", "trace(X@X)", {"X": "2*X.T"}, NN),
    F("trace_XtX", "trace(X.T@X)", {"X": "2*X"}, {"X": "m,n"}),
    F("trace_XAXt", "trace(X@A@X.T)", {"X": "X@(A + A.T)"}, {"X": "m,n", "A": "n,n"}),
    F("trace_inv", "trace(inv(X))", {"X": "-(inv(X)@inv(X)).T"}, NN),
    F("trace_A_inv_B", "trace(A@inv(X)@B)", {"X": "-(inv(X)@B@A@inv(X)).T"}, {"A": "p,n", "X": "n,n", "B": "n,p"}),
    F("trace_inv_A", "trace(inv(X)@A)", {"X": "-(inv(X)@A@inv(X)).T"}, {"X": "n,n", "A": "n,n"}),
    F("trace_XBXC", "trace(X.T@B@X@C)", {"X": "B@X@C + B.T@X@C.T"}, {"X": "m,n", "B": "m,m", "C": "n,n"}),
    F("trace_cube", "trace(X@X@X)", {"X": "3*(X@X).T"}, NN),
    F("det", "det(X)", {"X": "det(X)*inv(X).T"}, NN),
    F("logdet", "logdet(X)", {"X": "inv(X).T"}, NN),
    F("det_AXB", "det(A@X@B)", {"X": "det(A@X@B)*(B@inv(A@X@B)@A).T"}, {"A": "n,n", "X": "n,n", "B": "n,n"}),
    F("logdet_XtX", "log(det(X.T@X))", {"X": "2*X@inv(X.T@X)"}, {"X": "4,2"}),
    F("logdet_spd", "logdet(S)", {"S": "inv(S)"}, {"S": "n,n"}, structure={"S": "spd"}),
    F("bilinear", "a.T@X@b", {"X": "a@b.T"}, {"a": "m,1", "X": "m,n", "b": "n,1"}),
    F("bilinear_t", "a.T@X.T@b", {"X": "b@a.T"}, {"X": "m,n", "a": "n,1", "b": "m,1"}),
    F("quadratic", "x.T@A@x", {"x": "(A + A.T)@x"}, {"A": "n,n", "x": "n,1"}),
    F("quadratic_sym", "x.T@A@x", {"x": "2*A@x"}, {"A": "n,n", "x": "n,1"}, structure={"A": "symmetric"}),
    F("quadratic_inv", "x.T@inv(A)@x", {"x": "(inv(A) + inv(A).T)@x"}, {"A": "n,n", "x": "n,1"}),
    F("bilinear_inv", "a.T@inv(X)@b", {"X": "-inv(X).T@a@b.T@inv(X).T"}, {"a": "n,1", "X": "n,n", "b": "n,1"}),
    F("quadratic_in_X", "b.T@X.T@X@c", {"X": "X@(b@c.T + c@b.T)"}, {"X": "m,n", "b": "n,1", "c": "n,1"}),
    F("affine_quadratic", "(X@b + c).T@D@(X@b + c)", {"X": "(D + D.T)@(X@b + c)@b.T"},
      {"X": "m,n", "b": "n,1", "c": "m,1", "D": "m,m"}),
    F("frobenius_sq", "sum(X**2)", {"X": "2*X"}, {"X": "m,n"}),
    F("frobenius", "norm(X)", {"X": "X/norm(X)"}, {"X": "m,n"}),
    F("two_norm", "norm(x - a)", {"x": "(x - a)/norm(x - a)"}, {"x": "n,1", "a": "n,1"}),
    F("logsumexp", "logsumexp(x)", {"x": "softmax(x)"}, {"x": "n,1"}),
    F("least_squares", "sum((A@x - b)**2)", {"x": "2*A.T@(A@x - b)"}, {"A": "m,n", "x": "n,1", "b": "m,1"}),
    F("least_squares_X", "sum((X@w - y)**2)", {"X": "2*(X@w - y)@w.T"}, {"X": "m,n", "w": "n,1", "y": "m,1"}),
    F("sum_kron", "sum(kron(A, B))", {"A": "sum(B)*ones(m, n)"}, {"A": "m,n", "B": "p,q"}),
    F("vec_Wx", "W@x", {"W": "kron(x.T, eye(m))"}, {"W": "m,n", "x": "n,1"}, order="F"),
    F("vec_AXB", "A@X@B", {"X": "kron(B.T, A)"}, {"A": "p,m", "X": "m,n", "B": "n,q"}, order="F"),
    F("rayleigh", "(x.T@A@x)/(x.T@x)", {"x": "2*(A@x - ((x.T@A@x)/(x.T@x))*x)/(x.T@x)"}, {"A": "n,n", "x": "n,1"},
      structure={"A": "symmetric"}),
    F("trace_SA_entries", "trace(S@A)", {"S": "A + A.T - diag(diag(A))"}, {"S": "n,n", "A": "n,n"},
      structure={"S": "symmetric-entries"}),
    F("logdet_cholesky", "logdet(L@L.T)", {"L": "2*inv(L).T"}, {"L": "n,n"}, structure={"L": "lower"}),
    F("quadratic_plus_scalar", "(x.T@A@x)/2 + c.T@x + 3", {"x": "A@x + c"}, {"A": "n,n", "x": "n,1", "c": "n,1"},
      structure={"A": "symmetric"}),
]

COOKBOOK_SLIPS = [
    W("slip_trace_AX", "trace(A@X)", {"X": "A"}, {"A": "n,n", "X": "n,n"}, TRANSPOSE),
    W("slip_quadratic_nonsym", "x.T@A@x", {"x": "2*A@x"}, {"A": "n,n", "x": "n,1"}, SYMMETRIC),
    W("slip_det_untransposed", "det(X)", {"X": "det(X)*inv(X)"}, NN, TRANSPOSE),
    W("slip_trace_AXB_order", "trace(A@X@B)", {"X": "B.T@A.T"}, {"A": "n,n", "X": "n,n", "B": "n,n"},
      ORDER + TRANSPOSE),
    W("slip_quadratic_one_term", "x.T@A@x", {"x": "A@x"}, {"A": "n,n", "x": "n,1"}, DROPPED),
    W("slip_least_squares_two", "sum((A@x - b)**2)", {"x": "A.T@(A@x - b)"}, {"A": "m,n", "x": "n,1", "b": "m,1"},
      FACTOR),
    W("slip_logdet_untransposed", "logdet(X)", {"X": "inv(X)"}, NN, TRANSPOSE),
    W("slip_trace_XtAX_sym", "trace(X.T@A@X)", {"X": "2*A@X"}, {"A": "m,m", "X": "m,n"}, SYMMETRIC),
    W("slip_quadratic_in_X_term", "b.T@X.T@X@c", {"X": "X@c@b.T"}, {"X": "m,n", "b": "n,1", "c": "n,1"}, DROPPED),
    W("slip_rayleigh_quotient_term", "(x.T@A@x)/(x.T@x)", {"x": "2*A@x/(x.T@x)"}, {"A": "n,n", "x": "n,1"}, DROPPED,
      structure={"A": "symmetric"}),
    W("slip_trace_SA_convention", "trace(S@A)", {"S": "A + A.T - diag(diag(A))"}, {"S": "n,n", "A": "n,n"},
      SYMMETRIC),
    W("slip_vec_Wx_order", "W@x", {"W": "kron(eye(m), x.T)"}, {"W": "m,n", "x": "n,1"}, VEC, order="F"),
    W("slip_vec_AXB_order", "A@X@B", {"X": "kron(A, B.T)"}, {"A": "p,m", "X": "m,n", "B": "n,q"}, VEC, order="F"),
    W("slip_one_of_two_transposes", "trace(inv(X)@A@inv(X))",
      {"X": "-(inv(X)@A@inv(X)@inv(X)).T - inv(X)@inv(X)@A@inv(X)"}, {"X": "n,n", "A": "n,n"}, TRANSPOSE),
    W("slip_bilinear_inv", "a.T@inv(X)@b", {"X": "-inv(X)@a@b.T@inv(X)"}, {"a": "n,1", "X": "n,n", "b": "n,1"},
      TRANSPOSE),
    W("slip_logdet_sign", "logdet(X)", {"X": "-inv(X).T"}, NN, SIGN),
    W("slip_frobenius_half", "sum(X**2)", {"X": "X"}, {"X": "m,n"}, FACTOR),
    W("slip_two_norm_power", "norm(x - a)", {"x": "(x - a)/norm(x - a)**2"}, {"x": "n,1", "a": "n,1"}),
    W("slip_trace_XX", "trace(X@X)", {"X": "2*X"}, NN, TRANSPOSE),
    W("slip_trace_XBXC_term", "trace(X.T@B@X@C)", {"X": "B@X@C"}, {"X": "m,n", "B": "m,m", "C": "n,n"}, DROPPED),
]

LOGISTIC = {"X": "m,d", "w": "d,1", "y": "m,1"}
TANH_NET = dict(defs={"h": "tanh(W1@x)", "e": "W2@h - y"}, shapes={"W1": "h1,i", "W2": "o,h1", "x": "i,1", "y": "o,1"})
ATTN = {"Q": "t,d", "K": "t,d", "V": "t,e", "G": "t,e"}
LAYERNORM = dict(defs={"mu": "mean(x)", "s": "sqrt(mean((x - mean(x))**2) + eps)", "xh": "(x - mean(x))/s"},
                 shapes={"x": "n,1", "g": "n,1", "eps": ""}, values={"eps": 0.1})
SIGMOID_LAYER = dict(defs={"a": "sigmoid(W@x + b)", "d": "2*(a - y)*a*(1 - a)"},
                     shapes={"W": "o,i", "x": "i,1", "b": "o,1", "y": "o,1"}, structure={"y": "unit"})

ML = [
    F("logistic_pm1", "sum(log1p(exp(-y*(X@w))))", {"w": "-X.T@(y*sigmoid(-y*(X@w)))"}, LOGISTIC,
      structure={"y": "sign"}),
    F("logistic_01", "-sum(y*log(sigmoid(X@w)) + (1 - y)*log(1 - sigmoid(X@w)))", {"w": "X.T@(sigmoid(X@w) - y)"},
      LOGISTIC, structure={"y": "unit"}),
    F("softmax_regression", "-sum(Y*log(softmax(X@W, axis=1)))", {"W": "X.T@(softmax(X@W, axis=1) - Y)"},
      {"X": "m,d", "W": "d,k", "Y": "m,k"}, structure={"Y": "onehot"}),
    F("poisson", "sum(exp(X@w) - y*(X@w))", {"w": "X.T@(exp(X@w) - y)"}, LOGISTIC),
    F("poisson_matrix", "sum(exp(X@W) - Y*(X@W))", {"W": "X.T@(exp(X@W) - Y)"}, {"X": "m,d", "W": "d,k", "Y": "m,k"}),
    F("ridge", "sum((X@w - y)**2) + lam*sum(w**2)", {"w": "2*X.T@(X@w - y) + 2*lam*w"}, {**LOGISTIC, "lam": ""}),
    F("elastic_net", "sum((X@w - y)**2)/(2*m) + lam*sum(w**2)/2 + mu*sum(abs(w))",
      {"w": "X.T@(X@w - y)/m + lam*w + mu*w/abs(w)"}, {**LOGISTIC, "lam": "", "mu": ""}),
    F("squared_hinge", "sum(relu(1 - y*(X@w))**2)", {"w": "-2*X.T@(y*relu(1 - y*(X@w)))"}, LOGISTIC,
      structure={"y": "sign"}),
    F("hinge", "sum(relu(1 - y*(X@w)))", {"w": "-X.T@(y*step(1 - y*(X@w)))"}, LOGISTIC, structure={"y": "sign"}),
    F("pseudo_huber", "sum(sqrt(1 + r**2) - 1)", {"w": "X.T@(r/sqrt(1 + r**2))"}, LOGISTIC, defs={"r": "X@w - y"}),
    F("tanh_net", "sum(e**2)", {"W2": "2*e@h.T", "W1": "(W2.T@(2*e)*(1 - h**2))@x.T"}, **TANH_NET),
    F("attention_V", "sum(G*(softmax(Q@K.T, axis=1)@V))", {"V": "softmax(Q@K.T, axis=1).T@G"}, ATTN),
    F("attention_Q", "sum(G*(P@V))", {"Q": "(P*(G@V.T - sum(P*(G@V.T), axis=1, keepdims=True)))@K"}, ATTN,
      defs={"P": "softmax(Q@K.T, axis=1)"}),
    F("layer_norm", "sum(g*xh)", {"x": "(g - mean(g) - xh*mean(g*xh))/s"}, **LAYERNORM),
    F("gaussian_mean", "(x - mu).T@P@(x - mu)/2", {"mu": "-P@(x - mu)"}, {"x": "n,1", "mu": "n,1", "P": "n,n"},
      structure={"P": "spd"}),
    F("gaussian_precision", "logdet(P)/2 - (x - mu).T@P@(x - mu)/2", {"P": "(inv(P) - (x - mu)@(x - mu).T)/2"},
      {"x": "n,1", "mu": "n,1", "P": "n,n"}, structure={"P": "spd"}),
    F("gaussian_covariance", "-logdet(S)/2 - (x - mu).T@inv(S)@(x - mu)/2",
      {"S": "(-inv(S) + inv(S)@(x - mu)@(x - mu).T@inv(S))/2"}, {"x": "n,1", "mu": "n,1", "S": "n,n"},
      structure={"S": "spd"}),
    F("gaussian_batch_mean", "sum(((X - mu.T)@P)*(X - mu.T))/2", {"mu": "-P@sum(X.T - mu, axis=1, keepdims=True)"},
      {"X": "m,n", "mu": "n,1", "P": "n,n"}, structure={"P": "spd"}),
    F("cross_entropy_logits", "-sum(y*log(softmax(z)))", {"z": "softmax(z) - y"}, {"z": "1,k", "y": "1,k"},
      structure={"y": "onehot"}),
    F("logsumexp_rows", "sum(logsumexp(X, axis=1))", {"X": "softmax(X, axis=1)"}, {"X": "m,n"}),
    F("mse", "mean((X@w - y)**2)", {"w": "2*X.T@(X@w - y)/m"}, LOGISTIC),
    F("sigmoid_layer", "sum((a - y)**2)", {"W": "d@x.T", "b": "d"}, **SIGMOID_LAYER),
    F("relu_layer", "sum(relu(W@x)*g)", {"W": "(g*step(W@x))@x.T"}, {"W": "o,i", "x": "i,1", "g": "o,1"}),
    F("tanh_regression", "sum(tanh(X@w))", {"w": "X.T@(1 - tanh(X@w)**2)"}, LOGISTIC),
    F("weight_decay", "sum(W**2)/2", {"W": "W"}, {"W": "m,n"}),
    F("l2_norm", "norm(w)", {"w": "w/norm(w)"}, {"w": "d,1"}),
    F("cosine", "(a.T@b)/(norm(a)*norm(b))", {"a": "b/(norm(a)*norm(b)) - (a.T@b)*a/(norm(a)**3*norm(b))"},
      {"a": "n,1", "b": "n,1"}),
    F("logsumexp_linear", "logsumexp(W@x)", {"W": "softmax(W@x)@x.T"}, {"W": "k,d", "x": "d,1"}),
    F("entropy", "-sum(p*log(p))", {"p": "-(log(p) + 1)"}, {"p": "n,1"}, structure={"p": "positive"}),
    F("kl", "sum(p*log(p/q))", {"q": "-p/q"}, {"p": "n,1", "q": "n,1"}, structure={"p": "positive", "q": "positive"}),
    F("variance", "sum((x - mean(x))**2)/n", {"x": "2*(x - mean(x))/n"}, {"x": "n,1"}),
    F("softplus", "sum(log1p(exp(x)))", {"x": "sigmoid(x)"}, {"x": "n,1"}),
    F("matrix_factorization", "sum((U@V.T - R)**2)", {"U": "2*(U@V.T - R)@V", "V": "2*(U@V.T - R).T@U"},
      {"U": "m,k", "V": "n,k", "R": "m,n"}),
    F("two_layer_linear", "sum((W2@W1@x - y)**2)", {"W1": "2*W2.T@(W2@W1@x - y)@x.T"},
      {"W2": "o,h", "W1": "h,i", "x": "i,1", "y": "o,1"}),
    F("jacobian_softmax", "softmax(z)", {"z": "diag(softmax(z)) - outer(softmax(z), softmax(z))"}, {"z": "k"}),
    F("jacobian_sigmoid", "sigmoid(x)", {"x": "diag(sigmoid(x)*(1 - sigmoid(x)))"}, {"x": "n"}),
    F("jacobian_linear", "A@x", {"x": "A"}, {"A": "m,n", "x": "n"}),
]

ML_SLIPS = [
    W("slip_logistic_sign", "sum(log1p(exp(-y*(X@w))))", {"w": "X.T@(y*sigmoid(-y*(X@w)))"}, LOGISTIC, SIGN,
      structure={"y": "sign"}),
    W("slip_softmax_axis", "-sum(Y*log(softmax(X@W, axis=1)))", {"W": "X.T@(softmax(X@W, axis=0) - Y)"},
      {"X": "m,d", "W": "d,k", "Y": "m,k"}, AXIS, structure={"Y": "onehot"}),
    W("slip_poisson_dropped_y", "sum(exp(X@w) - y*(X@w))", {"w": "X.T@exp(X@w)"}, LOGISTIC),
    W("slip_ridge_reg_two", "sum((X@w - y)**2) + lam*sum(w**2)", {"w": "2*X.T@(X@w - y) + lam*w"},
      {**LOGISTIC, "lam": ""}),
    W("slip_tanh_net_derivative", "sum(e**2)", {"W2": "2*e@h.T", "W1": "(W2.T@(2*e)*(1 - h))@x.T"}, **TANH_NET),
    W("slip_tanh_net_W2_transposed", "sum(e**2)", {"W2": "2*h@e.T", "W1": "(W2.T@(2*e)*(1 - h**2))@x.T"},
      slip=TRANSPOSE, **TANH_NET),
    W("slip_attention_V_transpose", "sum(G*(softmax(Q@K.T, axis=1)@V))", {"V": "softmax(Q@K.T, axis=1)@G"}, ATTN,
      TRANSPOSE),
    W("slip_layer_norm_variance_term", "sum(g*xh)", {"x": "(g - mean(g))/s"}, slip=DROPPED, **LAYERNORM),
    W("slip_gaussian_precision_half", "logdet(P)/2 - (x - mu).T@P@(x - mu)/2", {"P": "inv(P) - (x - mu)@(x - mu).T"},
      {"x": "n,1", "mu": "n,1", "P": "n,n"}, FACTOR, structure={"P": "spd"}),
    W("slip_gaussian_covariance_inv", "-logdet(S)/2 - (x - mu).T@inv(S)@(x - mu)/2",
      {"S": "(-inv(S) + inv(S)@(x - mu)@(x - mu).T)/2"}, {"x": "n,1", "mu": "n,1", "S": "n,n"},
      structure={"S": "spd"}),
    W("slip_cosine_quotient_term", "(a.T@b)/(norm(a)*norm(b))", {"a": "b/(norm(a)*norm(b))"},
      {"a": "n,1", "b": "n,1"}, DROPPED),
    W("slip_mf_transposed", "sum((U@V.T - R)**2)", {"U": "2*(U@V.T - R)@V", "V": "2*(U@V.T - R)@U"},
      {"U": "m,k", "V": "n,k", "R": "m,n"}, TRANSPOSE),
    W("slip_sigmoid_layer_b_two", "sum((a - y)**2)", {"W": "d@x.T", "b": "2*d"}, slip=FACTOR, **SIGMOID_LAYER),
    W("slip_relu_layer_x", "sum(relu(W@x)*g)", {"W": "(g*step(W@x))@x"}, {"W": "o,i", "x": "i,1", "g": "o,1"},
      TRANSPOSE),
    W("slip_cross_entropy_sign", "-sum(y*log(softmax(z)))", {"z": "y - softmax(z)"}, {"z": "1,k", "y": "1,k"}, SIGN,
      structure={"y": "onehot"}),
    W("slip_batch_gaussian_axis", "sum(((X - mu.T)@P)*(X - mu.T))/2", {"mu": "-P@sum(X.T - mu, axis=0, keepdims=True)"},
      {"X": "m,n", "mu": "n,1", "P": "n,n"}, AXIS, structure={"P": "spd"}),
    W("slip_logsumexp_rows_axis", "sum(logsumexp(X, axis=1))", {"X": "softmax(X, axis=0)"}, {"X": "m,n"}, AXIS),
    W("slip_two_layer_transposed", "sum((W2@W1@x - y)**2)", {"W1": "2*W2@(W2@W1@x - y)@x.T"},
      {"W2": "n,n", "W1": "n,n", "x": "n,1", "y": "n,1"}, TRANSPOSE),
    W("slip_jacobian_softmax_term", "softmax(z)", {"z": "diag(softmax(z))"}, {"z": "k"}),
    W("slip_mse_mean", "mean((X@w - y)**2)", {"w": "2*X.T@(X@w - y)"}, LOGISTIC, FACTOR),
    W("slip_attention_Q_order", "sum(G*(P@V))", {"Q": "K@(P*(G@V.T - sum(P*(G@V.T), axis=1, keepdims=True)))"},
      {"Q": "t,t", "K": "t,t", "V": "t,t", "G": "t,t"}, ORDER + TRANSPOSE, defs={"P": "softmax(Q@K.T, axis=1)"}),
]

NEWER = [  # the language's newer functions (refused before they existed)
    F("sin", "sum(sin(x))", {"x": "cos(x)"}, {"x": "n,1"}),
    F("cos_linear", "sum(cos(X@w))", {"w": "-X.T@sin(X@w)"}, LOGISTIC),
    F("erf_gate", "sum(x*erf(x))", {"x": "erf(x) + 1.1283791670955126*x*exp(-x**2)"}, {"x": "n,1"}),
    F("abs_sign", "sum(abs(x))", {"x": "sign(x)"}, {"x": "n,1"}),
    F("tril_frobenius", "sum(tril(X)**2)", {"X": "2*tril(X)"}, {"X": "n,n"}),
    F("expm_trace", "trace(expm(X))", {"X": "expm(X).T"}, NN),
    W("slip_expm_trace", "trace(expm(X))", {"X": "expm(X)"}, NN, TRANSPOSE),
    F("clip_square", "sum(clip(x, -3, 3)**2)", {"x": "2*x"}, {"x": "n,1"}),
    F("max_pool_rows", "sum(max(X, axis=1))", {"X": "argmax_mask(X, axis=1)"}, {"X": "m,n"}),
    F("cross_entropy_labels", "-sum(log(pick(softmax(Z, axis=1), y)))", {"Z": "softmax(Z, axis=1) - onehot(y, k)"},
      {"Z": "m,k", "y": "m,1"}, structure={"y": "labels"}),
    W("slip_cross_entropy_labels_axis", "-sum(log(pick(softmax(Z, axis=1), y)))",
      {"Z": "softmax(Z, axis=0) - onehot(y, k)"}, {"Z": "m,k", "y": "m,1"}, AXIS, structure={"y": "labels"}),
    F("lambda_max", "max(eigvalsh(S))", {"S": "eigvecsh(S)@diag(argmax_mask(eigvalsh(S)))@eigvecsh(S).T"},
      {"S": "n,n"}, structure={"S": "symmetric"}),
    F("nuclear_norm", "norm(X, ord='nuc')", {"X": "X@inv(sqrtm(X.T@X))"}, {"X": "4,3"}),
    F("pinv_linear", "sum(pinv(A)@b)", {"b": "pinv(A).T@ones(n, 1)"}, {"A": "m,n", "b": "m,1"}),
    F("where_piecewise", "sum(where(step(x), x**2, -x))", {"x": "where(step(x), 2*x, -1)"}, {"x": "n,1"}),
]

FORMULAS = COOKBOOK + COOKBOOK_SLIPS + ML + ML_SLIPS + NEWER


def symbolic_or_rectangular(f: F) -> bool:
    dims = [d.strip() for s in f.shapes.values() for d in s.split(",") if d.strip()]
    rect = any(len(s.split(",")) == 2 and s.split(",")[0].strip() != s.split(",")[1].strip() for s in f.shapes.values())
    return rect or any(not d.isdigit() for d in dims)


# --------------------------------------------------------------------------- one formula (in a child)
def run_one(f: F, budget: float) -> dict[str, Any]:
    from gradcheck.formula import FormulaError, verify

    kw: dict[str, Any] = dict(loss=f.loss, grads=f.grads, shapes=f.shapes, defs=f.defs, structure=f.structure,
                              values=f.values, layout=f.layout, order=f.order)
    try:
        kw["time_budget"] = budget
        r = verify(**kw)
    except FormulaError as exc:
        return {"verdict": "refused", "error": str(exc).splitlines()[0]}
    return {"verdict": r.verdict, "diagnosis": r.diagnosis or "",
            "symbolic": None if r.symbolic is None else r.symbolic.status,
            "matrix": None if r.matrix is None else r.matrix.status,
            "counterexample": getattr(r, "counterexample", None) is not None}


def child(index: int, budget: float) -> None:
    start = time.monotonic()
    out = run_one(FORMULAS[index], budget)
    out["seconds_in_process"] = round(time.monotonic() - start, 3)
    print(json.dumps(out))


# --------------------------------------------------------------------------- all of them
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="substring of the names to run")
    ap.add_argument("--budget", type=float, default=20.0, help="verify's symbolic time budget (s)")
    ap.add_argument("--timeout", type=float, default=60.0, help="wall-clock limit per formula process (s)")
    ap.add_argument("--verbose", action="store_true", help="print each formula's verdict and diagnosis")
    ap.add_argument("--json", default=None, metavar="FILE", help="write every row to FILE")
    ap.add_argument("--write-sheet", default=None, metavar="FILE",
                    help="write the chosen formulas as one TOML sheet (for timing `gradcheck verify --sheet`)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.budget)
        return
    if args.write_sheet:
        with open(args.write_sheet, "w") as fh:
            fh.write(sheet_text([f for f in FORMULAS if args.only in f.name]))
        return
    rows = []
    chosen = [(i, f) for i, f in enumerate(FORMULAS) if args.only in f.name]
    for i, f in chosen:
        start = time.monotonic()
        try:
            p = subprocess.run([sys.executable, __file__, "--child", str(i), "--budget", str(args.budget)],
                               capture_output=True, text=True, timeout=args.timeout, env=os.environ.copy())
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            row = json.loads(lines[-1]) if lines else {"verdict": "crash", "error": p.stderr.strip()[-300:]}
        except subprocess.TimeoutExpired:
            row = {"verdict": "timeout", "error": f"over {args.timeout:g} s"}
        row.update(name=f.name, expect=f.expect, slip=list(f.slip), seconds=round(time.monotonic() - start, 2),
                   sized=symbolic_or_rectangular(f))
        rows.append(row)
        if args.verbose:
            print(f"{row['seconds']:6.1f}s {f.name:34} {f.expect:6} -> {row['verdict']:12} "
                  f"{row.get('matrix') or '':11} {(row.get('diagnosis') or row.get('error') or '')[:150]}", flush=True)
    report(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "formulas": [asdict(f) for _, f in chosen]}, fh, indent=1)


def sheet_text(formulas: list[F]) -> str:
    """The formulas as a TOML sheet (values and structures included), in the sheet's own key order."""

    def table(d: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"

    out = ['[sheet]\ntitle = "benchmarks/formulas.py"\n']
    for f in formulas:
        out.append(f"[{f.name}]\nloss = {json.dumps(f.loss)}\ngrads = {table(f.grads)}\nshapes = {table(f.shapes)}")
        for key in ("defs", "structure", "values"):
            if getattr(f, key):
                out.append(f"{key} = {table(getattr(f, key))}")
        if f.order:
            out.append(f'order = "{f.order}"')
        out.append(f'expect = "{f.expect}"\n')
    return "\n".join(out)


def report(rows: list[dict[str, Any]]) -> None:
    right = [r for r in rows if r["expect"] == "right"]
    wrong = [r for r in rows if r["expect"] == "wrong"]
    named = [r for r in wrong if r["slip"]]
    secs = sorted(r["seconds"] for r in rows)
    n = len(rows)

    def count(rs: list[dict[str, Any]], verdict: str) -> int:
        return sum(r["verdict"] == verdict for r in rs)

    said = [r for r in named if any(w in (r.get("diagnosis") or "").lower() for w in r["slip"])]
    print(f"formulas: {n} ({len(right)} right, {len(wrong)} wrong; {sum(r['sized'] for r in rows)} with symbolic "
          "or non-square sizes)")
    print(f"right formulas called WRONG (false WRONG): {count(right, 'wrong')} of {len(right)}"
          + (f"  [{', '.join(r['name'] for r in right if r['verdict'] == 'wrong')}]" if count(right, 'wrong') else ""))
    print(f"right formulas found RIGHT: {count(right, 'right')} of {len(right)}")
    print(f"wrong formulas caught (WRONG): {count(wrong, 'wrong')} of {len(wrong)}"
          + (f"  [missed: {', '.join(r['name'] for r in wrong if r['verdict'] == 'right')}]"
             if count(wrong, 'right') else ""))
    print(f"INCONCLUSIVE: {count(rows, 'inconclusive')} ({count(right, 'inconclusive')} right, "
          f"{count(wrong, 'inconclusive')} wrong)")
    print(f"slip named in the diagnosis: {len(said)} of {len(named)} wrong formulas with a named slip")
    print(f"counterexample given: {sum(bool(r.get('counterexample')) for r in wrong)} of {len(wrong)} wrong formulas")
    print(f"right formulas proved for all sizes (matrix level): {sum(r.get('matrix') == 'proved' for r in right)} "
          f"of {len(right)}")
    print(f"refused (not expressible): {count(rows, 'refused')}; crashed: {count(rows, 'crash')}; over the wall "
          f"clock: {count(rows, 'timeout')}")
    if secs:
        print(f"seconds per formula (process included): median {statistics.median(secs):.2f}, "
              f"90th percentile {secs[int(0.9 * (n - 1))]:.2f}, max {secs[-1]:.2f}, total {sum(secs):.0f}")


if __name__ == "__main__":
    main()
