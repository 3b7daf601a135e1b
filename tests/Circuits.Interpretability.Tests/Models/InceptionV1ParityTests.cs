using System.Text.Json;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Models;

/// <summary>
/// InceptionV1 against PyTorch itself: tests/fixtures/inceptionv1/generate.py defines the network in PyTorch
/// (TF-SAME pads, -inf max-pool padding, the graph's LRN), saves seeded random weights as inception5h.pth
/// (float16) and records activations at every named layer. Our loader reads that file and our model must
/// reproduce every layer within 1e-4 of the layer's largest magnitude.
/// </summary>
public class InceptionV1ParityTests
{
    private const double RelativeTolerance = 1e-4;

    private static readonly Lazy<JsonElement> Reference = new(() => IO.Fixtures.Json("reference_activations.json"));

    [Theory]
    [InlineData(224, 224)]
    [InlineData(97, 129)]
    public void Reproduces_PyTorch_at_every_named_layer(int height, int width)
    {
        JsonElement reference = Reference.Value.GetProperty($"input_{height}x{width}");
        using var model = InceptionV1.FromFile(IO.Fixtures.InceptionV1("inception5h_random_fp16.pth"));
        using var scope = NewDisposeScope();
        Tensor image = FixedInput(height, width);
        image.reshape(-1).narrow(0, 0, 16).data<float>().ToArray().Select(v => (double)v)
            .Should().Equal(reference.GetProperty("input_first_values").EnumerateArray().Select(v => v.GetDouble()), "the input is rebuilt bit for bit");

        var layers = reference.GetProperty("layers").EnumerateObject().ToList();
        layers.Count.Should().Be(141);
        using CaptureResult result = ActivationCapture.Capture(model, InceptionV1.Preprocess(image), layers.Select(l => l.Name));

        var failures = new List<string>();
        foreach (JsonProperty layer in layers)
        {
            Tensor actual = result[layer.Name];
            long[] shape = layer.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            actual.shape.Should().Equal(shape, layer.Name);
            double maxAbs = layer.Value.GetProperty("max_abs").GetDouble();
            double tolerance = RelativeTolerance * Math.Max(maxAbs, 1e-30);
            float[] flat = actual.reshape(-1).data<float>().ToArray();
            var indices = layer.Value.GetProperty("indices").EnumerateArray().Select(i => i.GetInt64()).ToArray();
            var values = layer.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            double worst = 0;
            for (int i = 0; i < indices.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(flat[indices[i]] - values[i]));
            }

            double[] means = actual.transpose(0, 1).reshape(actual.shape[1], -1).to_type(ScalarType.Float64).mean(new long[] { 1 }).data<double>().ToArray();
            var expectedMeans = layer.Value.GetProperty("channel_mean").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int c = 0; c < means.Length; c++)
            {
                worst = Math.Max(worst, Math.Abs(means[c] - expectedMeans[c]));
            }

            worst = Math.Max(worst, Math.Abs(flat.Max(Math.Abs) - maxAbs));
            if (worst > tolerance)
            {
                failures.Add($"{layer.Name}: max error {worst:g3} > {tolerance:g3} (1e-4 x {maxAbs:g4})");
            }
        }

        failures.Should().BeEmpty();
    }

    /// <summary>The generator's input: an integer hash per pixel / 2^32, exactly as generate.py computes it.</summary>
    internal static Tensor FixedInput(int height, int width)
    {
        var values = new float[3 * height * width];
        int i = 0;
        for (ulong c = 0; c < 3; c++)
        {
            for (ulong h = 0; h < (ulong)height; h++)
            {
                for (ulong w = 0; w < (ulong)width; w++)
                {
                    ulong k = (((c * 7919) + (h * 104729) + (w * 1299709) + 12345) * 2654435761UL) % (1UL << 32);
                    values[i++] = (float)(k / 4294967296.0);
                }
            }
        }

        return tensor(values, new long[] { 1, 3, height, width });
    }
}
