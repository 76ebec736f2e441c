"""qonnx_c4ml.interface: ports and the circuit description every consumer of the Verilog reads."""
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port


def test_port_width_and_code_range():
    assert Port(16, 4, True).width == 64 and Port(16, 4, True).code_range == (-8, 7)
    assert Port(3, 1, False).width == 3 and Port(3, 1, False).code_range == (0, 1)


def test_description_json_round_trip_keeps_nested_ports():
    inp, mid, out = Port(8, 2, False), Port(4, 6, True), Port(2, 3, True)
    layers = [LayerCircuit("a", "a.v", inp, mid, 10, inputs=["x"], output="h", in_ports=[inp]),
              LayerCircuit("b", "b.v", mid, out, 4, latency=2, levels=5, inputs=["h"], output="y")]
    description = CircuitDescription("top", "layer", 3, inp, out, layers, ["a.v", "b.v", "top.v"], "top_registered.v",
                                     "streaming", {"ii": 9})
    again = CircuitDescription.from_json(description.to_json())
    assert again == description
    assert isinstance(again.layers[0].in_ports[0], Port) and again.layers[1].in_ports == []
