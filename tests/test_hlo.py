"""hpclab.hlo reads HLO text as XLA prints it (samples trimmed from TF 2.21 on a CPU)."""

import pytest

from hpclab import hlo

UNOPTIMIZED = """\
HloModule a_inference_chain_112__.1, entry_computation_layout={(f32[8]{0})->f32[8]{0}}

ENTRY %a_inference_chain_112__.1 (arg0.1: f32[8]) -> f32[8] {
  %arg0.1 = f32[8]{0} parameter(0), parameter_replication={false}, metadata={op_name="XLA_Args"}
  %reshape.1 = f32[8]{0} reshape(f32[8]{0} %arg0.1)
  %mul.3 = f32[] constant(1.5), metadata={op_type="Mul" op_name="mul"}
  %mul.4 = f32[8]{0} broadcast(f32[] %mul.3), dimensions={}
  %mul.5 = f32[8]{0} multiply(f32[8]{0} %reshape.1, f32[8]{0} %mul.4)
  %Relu.3 = f32[] constant(0), metadata={op_type="Relu" op_name="Relu"}
  %Relu.4 = f32[8]{0} broadcast(f32[] %Relu.3), dimensions={}
  %Relu.5 = f32[8]{0} maximum(f32[8]{0} %mul.5, f32[8]{0} %Relu.4)
  %XLA_Retvals.3 = f32[8]{0} reshape(f32[8]{0} %Relu.5), metadata={op_name="XLA_Retvals"}
  %XLA_Retvals.4 = (f32[8]{0}) tuple(f32[8]{0} %XLA_Retvals.3), metadata={op_name="XLA_Retvals"}
  ROOT %XLA_Retvals.5 = f32[8]{0} get-tuple-element((f32[8]{0}) %XLA_Retvals.4), index=0
}
"""

OPTIMIZED = """\
HloModule a_inference_chain_112__.1, is_scheduled=true, entry_computation_layout={(f32[8]{0})->f32[8]{0}}

%fused_computation (param_0.2: f32[8]) -> f32[8] {
  %param_0.2 = f32[8]{0} parameter(0)
  %mul.2 = f32[] constant(1.5), metadata={op_type="Mul" op_name="mul"}
  %mul.1 = f32[8]{0} broadcast(%mul.2), dimensions={}
  %mul.0 = f32[8]{0} multiply(%param_0.2, %mul.1)
  %Relu.2 = f32[] constant(0)
  %Relu.1 = f32[8]{0} broadcast(%Relu.2), dimensions={}
  ROOT %Relu.0 = f32[8]{0} maximum(%mul.0, %Relu.1), metadata={op_type="Relu" op_name="Relu"}
}

ENTRY %a_inference_chain_112__.1 (arg0.1: f32[8]) -> f32[8] {
  %arg0.1 = f32[8]{0} parameter(0), parameter_replication={false}
  ROOT %multiply_maximum_fusion = f32[8]{0} fusion(%arg0.1), kind=kLoop, calls=%fused_computation,\
 backend_config={"outer_dimension_partitions":["2"]}
}
"""

# Newer XLA prints names without "%"; a reduction adds a to_apply computation.
NO_PERCENT = """\
HloModule m

add_f32 {
  x = f32[] parameter(0)
  y = f32[] parameter(1)
  ROOT s = f32[] add(x, y)
}

fused_mul {
  p0 = f32[4]{0} parameter(0)
  p1 = f32[4]{0} parameter(1)
  ROOT m = f32[4]{0} multiply(p0, p1)
}

ENTRY main {
  a = f32[4]{0} parameter(0)
  b = f32[4]{0} parameter(1)
  zero = f32[] constant(0)
  prod = f32[4]{0} fusion(a, b), kind=kLoop, calls=fused_mul
  ROOT total = f32[] reduce(prod, zero), dimensions={0}, to_apply=add_f32
}
"""


def test_unoptimized_chain_has_one_instruction_per_op():
    assert hlo.kernels(UNOPTIMIZED) == ["reshape", "broadcast", "multiply", "broadcast",
                                        "maximum", "reshape"]
    entry = hlo.entry(UNOPTIMIZED)
    assert entry[0] == {"name": "arg0.1", "opcode": "parameter", "shape": "f32[8]{0}",
                        "calls": None}
    assert [i["opcode"] for i in entry][-2:] == ["tuple", "get-tuple-element"]
    assert entry[-2]["shape"] == "(f32[8]{0})"
    assert hlo.fused_opcodes(UNOPTIMIZED) == []


def test_optimized_chain_is_one_fusion_that_runs_the_ops():
    assert hlo.kernels(OPTIMIZED) == ["fusion"]
    assert hlo.entry(OPTIMIZED)[-1]["calls"] == "fused_computation"
    assert hlo.fused_opcodes(OPTIMIZED) == ["broadcast", "multiply", "broadcast", "maximum"]
    assert set(hlo.computations(OPTIMIZED)) == {"fused_computation", "a_inference_chain_112__.1",
                                                "__entry__"}


def test_names_without_percent_and_reductions():
    assert hlo.kernels(NO_PERCENT) == ["fusion", "reduce"]
    assert hlo.fused_opcodes(NO_PERCENT) == ["multiply"]
    assert [i["name"] for i in hlo.computations(NO_PERCENT)["add_f32"]] == ["x", "y", "s"]


@pytest.mark.parametrize("bad", [None, 3, b"ENTRY main {", ["ENTRY"]])
def test_not_text_is_a_type_error_naming_the_fix(bad):
    with pytest.raises(TypeError, match=r"hlo_text must be a string of HLO text: pass the text"):
        hlo.kernels(bad)


@pytest.mark.parametrize("bad", ["", "HloModule m\n", "graph { a = b }", "%f (x: f32[]) -> f32[] {\n}\n"])
def test_text_without_an_entry_computation_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"no ENTRY computation found.*experimental_get_compiler_ir"):
        hlo.entry(bad)
