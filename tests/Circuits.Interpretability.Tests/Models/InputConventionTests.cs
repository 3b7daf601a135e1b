using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Models;

/// <summary>
/// A model that declares its input convention (<see cref="IInputConvention"/>) gets it applied by render, tuning,
/// dataset examples and attribution unless the caller overrides it. Checked by recording what the model's forward
/// receives (a pre-hook on the model itself) with the default, with <see cref="Preprocessing.None"/> and with a
/// custom function, everything else (seeds) equal.
/// </summary>
public sealed class InputConventionTests : IDisposable
{
    private readonly InceptionV1 _inception = new(seed: 11);
    private readonly string _folder;

    public InputConventionTests()
    {
        _folder = Directory.CreateTempSubdirectory("input-convention").FullName;
        for (int i = 0; i < 2; i++)
        {
            using Tensor image = rand(new long[] { 3, 32, 32 }, generator: new Generator((ulong)(40 + i)));
            ImageIO.SavePng(image, Path.Combine(_folder, $"img{i}.png"));
        }
    }

    public void Dispose()
    {
        _inception.Dispose();
        Directory.Delete(_folder, true);
    }

    /// <summary>The runs of one analysis on a model, each given the preprocessing option to use.</summary>
    public static TheoryData<string> Analyses => new() { "render", "tuning", "attribution", "dataset-examples" };

    [Theory]
    [MemberData(nameof(Analyses))]
    public void InceptionV1_gets_its_preprocessing_unless_the_caller_overrides_it(string analysis)
    {
        Tensor byDefault = FirstInput(_inception, analysis, null);
        Tensor none = FirstInput(_inception, analysis, Preprocessing.None);
        Tensor custom = FirstInput(_inception, analysis, x => (x * 2) - 1);

        float[] raw = HandBuiltNet.Values(none);
        raw.Min().Should().BeGreaterThanOrEqualTo(0f, "without preprocessing the model sees the image in [0, 1]");
        raw.Max().Should().BeLessThanOrEqualTo(1f);
        float[] expected = raw.Select(v => (v * InceptionV1.InputScale) + InceptionV1.InputOffset).ToArray();
        float[] got = HandBuiltNet.Values(byDefault);
        got.Should().HaveSameCount(expected);
        for (int i = 0; i < got.Length; i++)
        {
            got[i].Should().BeApproximately(expected[i], 2e-3f, "the default is InceptionV1's x * 255 - 117");
        }

        HandBuiltNet.Values(custom).Should().Equal(raw.Select(v => (v * 2) - 1), (a, b) => Math.Abs(a - b) < 1e-5f);
    }

    [Fact]
    public void A_seeded_InceptionV1_render_has_the_same_pixels_with_the_models_convention_as_with_InceptionV1_Preprocess_given()
    {
        // The command-line catalog and the samples leave the preprocessing to the model now; nothing may change.
        RenderOptions Options(Func<Tensor, Tensor>? preprocess) => new() { Steps = 3, ImageSize = 32, Seed = 5, Preprocess = preprocess };
        var unit = Objectives.Channel(new NeuronAddress("mixed3a", 7));

        using RenderResult explicitly = FeatureVisualization.Render(_inception, unit, Options(InceptionV1.Preprocess));
        using RenderResult byModel = FeatureVisualization.Render(_inception, unit, Options(null));

        HandBuiltNet.Values(byModel.Images).Should().Equal(HandBuiltNet.Values(explicitly.Images));
        byModel.ObjectiveHistory.Should().Equal(explicitly.ObjectiveHistory);
        explicitly.ObjectiveHistory.Distinct().Should().HaveCountGreaterThan(1, "the render moved");
    }

    [Fact]
    public void The_curve_circuit_declares_identity_and_a_model_without_a_convention_gets_none()
    {
        using var circuit = new CurveCircuit();
        using var small = new SmallConvNet(seed: 2, width: 4);

        ((IInputConvention)circuit).Preprocess(ones(1)).item<float>().Should().Be(1f);
        HandBuiltNet.Values(FirstInput(circuit, "tuning", null)).Should().Equal(HandBuiltNet.Values(FirstInput(circuit, "tuning", Preprocessing.None)));
        HandBuiltNet.Values(FirstInput(small, "render", null)).Should().Equal(HandBuiltNet.Values(FirstInput(small, "render", Preprocessing.None)));
        Preprocessing.Resolve(small, null).Should().BeSameAs(Preprocessing.None);
        Preprocessing.Describe(null).Should().Be("model");
        Preprocessing.Describe(Preprocessing.None).Should().Be("none");
        Preprocessing.Describe(x => x).Should().Be("custom");
    }

    /// <summary>Runs <paramref name="analysis"/> on <paramref name="model"/> and returns the first tensor its forward received.</summary>
    private Tensor FirstInput(nn.Module<Tensor, Tensor> model, string analysis, Func<Tensor, Tensor>? preprocess)
    {
        var inputs = new List<Tensor>();
        using var hook = new PreHook(model, x => inputs.Add(x.detach().clone().DetachFromDisposeScope()));
        string layer = model switch
        {
            InceptionV1 => "conv2d0:0",
            CurveCircuit => "curves_relu:0",
            _ => "features.conv1:0",
        };
        switch (analysis)
        {
            case "render":
                FeatureVisualization.Render(model, Objectives.Channel(layer),
                    new RenderOptions { Steps = 1, ImageSize = 32, Transforms = Array.Empty<IImageTransform>(), Preprocess = preprocess }).Dispose();
                break;
            case "tuning":
                TuningCurves.Measure(model, layer, StimulusSweep.Orientation(new CurveStimulus { Width = 32, Height = 32 }, stepDegrees: 90),
                    new TuningOptions { Preprocess = preprocess });
                break;
            case "attribution":
                using (Tensor x = rand(new long[] { 1, 3, 32, 32 }, generator: new Generator(3)))
                {
                    Attributions.IntegratedGradients(model, x, layer, steps: 2, options: new AttributionOptions { Preprocess = preprocess }).Dispose();
                }

                break;
            default:
                DatasetExamples.Find(model, layer, _folder, new DatasetExamplesOptions { InputSize = 32, CropSize = 8, Preprocess = preprocess }).Dispose();
                break;
        }

        inputs.Should().NotBeEmpty("the analysis ran the model");
        foreach (Tensor t in inputs.Skip(1))
        {
            t.Dispose();
        }

        return inputs[0];
    }

    /// <summary>A TorchSharp pre-hook on the model itself, removed on dispose.</summary>
    private sealed class PreHook : IDisposable
    {
        private readonly nn.Module<Tensor, Tensor>.HookRemover _remover;

        public PreHook(nn.Module<Tensor, Tensor> model, Action<Tensor> onInput) =>
            _remover = model.register_forward_pre_hook((_, input) =>
            {
                onInput(input);
                return null!;
            });

        public void Dispose() => _remover.remove();
    }
}
