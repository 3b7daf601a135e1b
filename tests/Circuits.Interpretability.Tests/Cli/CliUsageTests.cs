using System.Text.Json;
using Circuits.Interpretability.Cli;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>
/// Exit codes and messages as the docs state them: usage errors (including bad option values, checked before any
/// model is loaded) exit 2 and name only the bad setting; failures exit 1; with --json every error is one JSON
/// object on standard output; no message carries .NET's own text.
/// </summary>
public sealed class CliUsageTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-usage-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string P(string name) => Path.Combine(_folder, name);

    public static TheoryData<string[], string, string?> BadValues() => new()
    {
        // arguments, what the message must say, what it must not say
        { new[] { "render", "--steps", "-5" }, "--steps -5 is out of range; expected a whole number of steps from 1 to 100000.", "image size" },
        { new[] { "render", "--size", "100000" }, "--size 100000 is out of range; expected a whole number of pixels from 8 to 4096.", null },
        { new[] { "render", "--batch", "0" }, "--batch 0 is out of range", null },
        { new[] { "render", "--learning-rate", "NaN" }, "--learning-rate 'NaN' is not a finite number", null },
        { new[] { "render", "--learning-rate", "-1" }, "--learning-rate -1 is out of range", null },
        { new[] { "render", "--shard", "4/4" }, "--shard '4/4' is not valid; expected i/n with 0 <= i < n", null },
        { new[] { "layers", "--input-size", "big" }, "--input-size 'big' is not a whole number", "System.Int32" },
        { new[] { "layers", "--seed", "-1" }, "--seed -1 is out of range", null },
        { new[] { "layers", "--device", "tpu" }, "--device 'tpu' is not a device; expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto.", null },
        { new[] { "circuit", "--unit", "curves:4", "--from", "lines", "--crop", "4" }, "--crop 4 is even", null },
        { new[] { "circuit", "--unit", "curves:4", "--from", "lines", "--top", "0" }, "--top 0 is out of range", null },
        { new[] { "tuning", "--unit", "curves:4", "--step", "0" }, "--step 0 is out of range; expected degrees more than 0 and at most 180.", null },
        { new[] { "tuning", "--unit", "curves:4", "--sweep", "colour" }, "--sweep 'colour' is not known; expected orientation, curvature or frequency.", null },
        { new[] { "report", "--objective", "diversity" }, "--objective 'diversity' is not known; expected neuron or channel.", null },
        { new[] { "examples", "--unit", "curves:4", "--images", ".", "--size", "0" }, "--size 0 is out of range", null },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task A_bad_option_value_is_a_usage_error_that_names_only_that_option(string[] args, string expected, string? notExpected)
    {
        var (code, output, error) = await CliTests.Run(args[0] == "layers" ? args : args.Append("--out").Append(P("out")).ToArray());

        code.Should().Be(ExitCodes.Usage, error);
        error.Should().Contain(expected);
        if (notExpected is not null)
        {
            error.Should().NotContain(notExpected);
        }

        error.Should().NotContain("(Parameter").And.NotContain("Exception");
        output.Should().BeEmpty();
        Directory.Exists(P("out")).Should().BeFalse("nothing is written when the command line is wrong");
    }

    [Fact]
    public async Task Names_the_model_does_not_have_are_usage_errors_found_before_any_work()
    {
        var channels = await CliTests.Run("render", "--layers", "curves", "--channels", "12-40", "--steps", "2", "--out", P("a"));
        channels.Code.Should().Be(ExitCodes.Usage);
        channels.Err.Should().Contain("--channels '12-40': channel 40 is outside layer 'curves', which has channels 0 to 15.").And.NotContain("16");

        var huge = await CliTests.Run("render", "--layers", "curves", "--channels", "0-2147483646", "--out", P("a"));
        huge.Code.Should().Be(ExitCodes.Usage, "the range is checked against the layer before any list is made");
        huge.Err.Should().Contain("channel 2147483646 is outside layer 'curves'");

        var report = await CliTests.Run("report", "--units", "curves:99", "--steps", "2", "--out", P("b"));
        report.Code.Should().Be(ExitCodes.Usage);
        report.Err.Should().Contain("--units 'curves:99': channel 99 is outside layer 'curves', which has channels 0 to 15.");
        report.Err.Should().NotContain("rendering", "the unit is checked before the work starts");

        var layer = await CliTests.Run("circuit", "--unit", "curves:4", "--from", "linez");
        layer.Code.Should().Be(ExitCodes.Usage);
        layer.Err.Should().Contain("linez").And.Contain("lines");

        var position = await CliTests.Run("tuning", "--unit", "curves:4@70,2");
        position.Code.Should().Be(ExitCodes.Usage);
        position.Err.Should().Contain("position (70, 2) is outside layer 'curves', whose map is 64 x 64");

        Directory.Exists(P("a")).Should().BeFalse();
        Directory.Exists(P("b")).Should().BeFalse();
    }

    [Fact]
    public async Task Options_that_do_not_go_together_are_usage_errors()
    {
        var random = await CliTests.Run("circuit", "--unit", "curves:4", "--from", "lines", "--random-weights");
        random.Code.Should().Be(ExitCodes.Usage);
        random.Err.Should().Contain("--random-weights does not apply to the built-in model 'curve-circuit' (weights set by formula)");

        var both = await CliTests.Run("layers", "--model", "inceptionv1", "--random-weights", "--weights", P("w.pth"));
        both.Code.Should().Be(ExitCodes.Usage);
        both.Err.Should().Contain("--weights and --random-weights exclude each other");

        var stimulus = await CliTests.Run("tuning", "--unit", "curves:4", "--sweep", "frequency", "--stimulus", "line");
        stimulus.Code.Should().Be(ExitCodes.Usage);
        stimulus.Err.Should().Contain("--stimulus line does not go with --sweep frequency, which sweeps gratings");

        var step = await CliTests.Run("tuning", "--unit", "curves:4", "--sweep", "curvature", "--step", "10");
        step.Code.Should().Be(ExitCodes.Usage);
        step.Err.Should().Contain("--step applies to orientation sweeps");
    }

    [Fact]
    public async Task Failures_exit_1_and_cuda_where_there_is_none_says_so()
    {
        // The tests reference TorchSharp-cpu, a backend without CUDA, on every machine.
        var cuda = await CliTests.Run("layers", "--device", "cuda");
        cuda.Code.Should().Be(ExitCodes.Failure);
        cuda.Err.Should().Contain("--device cuda:").And.Contain("CUDA is not available").And.Contain("TorchSharp-cpu");

        var missing = await CliTests.Run("examples", "--unit", "curves:4", "--images", P("nowhere"));
        missing.Code.Should().Be(ExitCodes.Failure);
        missing.Err.Should().Contain("is not a folder");
    }

    [Fact]
    public async Task With_json_errors_are_one_json_object_on_standard_output()
    {
        var usage = await CliTests.Run("tuning", "--unit", "curves:4", "--sweep", "x", "--json");
        usage.Code.Should().Be(ExitCodes.Usage);
        using (var json = JsonDocument.Parse(usage.Out))
        {
            JsonElement e = json.RootElement.GetProperty("error");
            e.GetProperty("kind").GetString().Should().Be("usage");
            e.GetProperty("exitCode").GetInt32().Should().Be(2);
            e.GetProperty("message").GetString().Should().Be("--sweep 'x' is not known; expected orientation, curvature or frequency.");
        }

        usage.Out.Should().NotContain("\\u0027", "quotes in messages stay quotes");
        usage.Err.Should().BeEmpty();

        var unknownOption = await CliTests.Run("layers", "--json", "--bogus");
        unknownOption.Code.Should().Be(ExitCodes.Usage);
        JsonDocument.Parse(unknownOption.Out).RootElement.GetProperty("error").GetProperty("message").GetString().Should().Contain("--bogus");

        var failure = await CliTests.Run("layers", "--json", "--device", "cuda");
        failure.Code.Should().Be(ExitCodes.Failure);
        using (var json = JsonDocument.Parse(failure.Out))
        {
            json.RootElement.GetProperty("error").GetProperty("kind").GetString().Should().Be("failure");
            json.RootElement.GetProperty("error").GetProperty("exitCode").GetInt32().Should().Be(1);
        }
    }

    [Fact]
    public async Task Every_verb_takes_device_and_reports_where_it_ran()
    {
        var layers = await CliTests.Run("layers", "--device", "cpu", "--json");
        layers.Code.Should().Be(ExitCodes.Success, layers.Err);
        JsonDocument.Parse(layers.Out).RootElement.GetProperty("device").GetString().Should().Be("cpu");

        var auto = await CliTests.Run("tuning", "--unit", "curves_relu:4", "--step", "45", "--device", "auto", "--json");
        auto.Code.Should().Be(ExitCodes.Success, auto.Err);
        JsonDocument.Parse(auto.Out).RootElement.GetProperty("device").GetString().Should().Be("cpu", "auto is the CPU where CUDA is not available");

        foreach (string verb in new[] { "layers", "render", "circuit", "tuning", "examples", "report" })
        {
            var help = await CliTests.Run(verb, "--help");
            help.Out.Should().Contain("--device", $"'{verb} --help' lists the shared options");
        }
    }
}
