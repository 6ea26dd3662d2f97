"""The export's ONNX-vs-PyTorch check catches a graph that disagrees with the model it was exported from."""
import torch
from torch import nn

from training import export
from training.onnx_utils import onnx_export


class TwoLayer(nn.Module):
    """Returns a tuple of outputs, as the project's models do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return (self.net(x),)


def test_agreement_bound_catches_a_perturbed_graph(tmp_path):
    torch.manual_seed(0)
    model = TwoLayer().eval()
    x = {"x": torch.randn(4, 8)}
    path = tmp_path / "m.onnx"
    onnx_export(model, (x["x"],), path, ["x"], ["y"], {"x": {0: "b"}, "y": {0: "b"}}, 17)
    same = export.compare_onnx(model, path, x, ("y",))["y"]
    assert same <= export.MAX_ABS_DIFF
    with torch.no_grad():
        model.net[2].bias += 0.01            # the graph on disk now differs from the model by 0.01
    diff = export.compare_onnx(model, path, x, ("y",))["y"]
    assert abs(diff - 0.01) < 1e-4
    # the export refuses (exit 1) anything above its bound; the bound must stay below such a difference
    assert diff > export.MAX_ABS_DIFF and export.MAX_ABS_DIFF <= 1e-3
