using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Devices;

/// <summary>
/// Every device-sensitive path takes its device from the model, runs with the device chosen explicitly, and
/// refuses a device other than the model's with <see cref="DeviceMismatchException"/> naming the option and both
/// devices before anything runs. On this CPU-only machine the explicit device is <c>torch.CPU</c> and the
/// mismatch is CUDA (the check happens before CUDA is touched); see docs/gpu.md for what ran on a GPU.
/// </summary>
public sealed class DeviceFlowTests : IDisposable
{
    private static readonly Device Cuda = new(DeviceType.CUDA);
    private readonly SmallConvNet _model = new(seed: 3, width: 4);
    private readonly string _folder;

    public DeviceFlowTests()
    {
        _folder = Directory.CreateTempSubdirectory("device-flow").FullName;
        using Tensor image = rand(new long[] { 3, 16, 16 }, generator: new Generator(1));
        ImageIO.SavePng(image, Path.Combine(_folder, "a.png"));
    }

    public void Dispose()
    {
        _model.Dispose();
        Directory.Delete(_folder, true);
    }

    /// <summary>Each path, run with a given device option (null: the model's).</summary>
    public static TheoryData<string, string> Paths => new()
    {
        { "render", "RenderOptions.Device" },
        { "expanded-weights", "ExpandedWeightsOptions.Device" },
        { "attribution", "AttributionOptions.Device" },
        { "tuning", "TuningOptions.Device" },
        { "dataset-examples", "DatasetExamplesOptions.Device" },
        { "forward-run", "ForwardRunOptions.Device" },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Each_path_runs_on_the_models_device_by_default_and_when_chosen_explicitly(string path, string option)
    {
        _ = option;
        double byDefault = Run(path, null);
        double onCpu = Run(path, CPU);

        onCpu.Should().Be(byDefault, "choosing the model's device explicitly changes nothing");
        double.IsFinite(onCpu).Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_device_other_than_the_models_is_refused_with_both_named(string path, string option)
    {
        FluentActions.Invoking(() => Run(path, Cuda))
            .Should().Throw<DeviceMismatchException>()
            .WithMessage($"{option} is cuda, but the model's parameters are on cpu; move the model first (model.to(cuda)) or leave {option} unset*");
        ModelLayers.Names(_model).Select(n => HandBuiltNet.HookCount(ModelLayers.Find(_model, n))).Should().OnlyContain(c => c == 0, "nothing was attached");
        _model.training.Should().BeTrue("nothing changed the model's mode");
    }

    [Fact]
    public void A_capture_refuses_an_input_on_another_device_than_the_model()
    {
        // A stateless model runs wherever its input is; one with parameters checks the input against them.
        using var stateless = nn.Sequential(("relu", nn.ReLU()));
        using var run = ForwardRun.Attach(stateless, new ForwardRunOptions { Taps = new[] { "relu" }, Device = Cuda });
        run.Device.type.Should().Be(DeviceType.CUDA);
        FluentActions.Invoking(() => run.Run(zeros(1, 3))).Should().Throw<DeviceMismatchException>().WithMessage("The input is on cpu, but the model is on cuda*");
    }

    /// <summary>Runs one path on the model with the given device option and returns a number it computed.</summary>
    private double Run(string path, Device? device)
    {
        const string unit = "features.conv2:1";
        switch (path)
        {
            case "render":
                using (var result = FeatureVisualization.Render(_model, Objectives.Channel(unit), new RenderOptions { Steps = 2, ImageSize = 16, Device = device }))
                {
                    return result.FinalObjective;
                }

            case "expanded-weights":
                using (var weights = ExpandedWeights.Compute(_model, "features.conv1", "features.conv2", new long[] { 3, 16, 16 }, new ExpandedWeightsOptions { CropSize = 3, Device = device }))
                {
                    return weights.Weights.abs().sum().item<float>();
                }

            case "attribution":
                using (Tensor x = rand(new long[] { 1, 3, 16, 16 }, generator: new Generator(2)))
                using (var ig = Attributions.IntegratedGradients(_model, x, unit, steps: 4, options: new AttributionOptions { Device = device }))
                {
                    return ig.Total;
                }

            case "tuning":
                return TuningCurves.Measure(_model, unit, StimulusSweep.Orientation(new CurveStimulus { Width = 16, Height = 16 }, stepDegrees: 90),
                    new TuningOptions { Device = device }).PeakResponse;

            case "dataset-examples":
                using (var found = DatasetExamples.Find(_model, unit, _folder, new DatasetExamplesOptions { InputSize = 16, CropSize = 4, Device = device }))
                {
                    return found.Examples[0].Activation;
                }

            default:
                using (Tensor x = rand(new long[] { 1, 3, 16, 16 }, generator: new Generator(2)))
                using (CaptureResult taps = ForwardRun.Once(_model, x, new ForwardRunOptions { Taps = new[] { unit }, Device = device }))
                {
                    return taps.Get(unit).sum().item<float>();
                }
        }
    }
}
