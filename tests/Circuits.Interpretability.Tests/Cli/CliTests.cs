using System.Text.Json;
using Circuits.Interpretability.Cli;

namespace Circuits.Interpretability.Tests.Cli;

public class CliTests
{
    internal static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CircuitsCli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Layers_as_json_lists_paths_shapes_and_parameters()
    {
        var (code, output, error) = await Run("layers", "--model", "small-convnet", "--json", "--input-size", "32");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("model").GetString().Should().Be("small-convnet");
        json.RootElement.GetProperty("totalParameters").GetInt64().Should().Be(24234);
        var conv2 = json.RootElement.GetProperty("layers").EnumerateArray().Single(l => l.GetProperty("path").GetString() == "features.conv2");
        conv2.GetProperty("outputShape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(1, 32, 16, 16);
        conv2.GetProperty("parameters").GetInt64().Should().Be((16 * 32 * 9) + 32);
    }

    [Fact]
    public async Task Layers_as_text_is_a_table()
    {
        var (code, output, _) = await Run("layers", "--model", "small-convnet");

        code.Should().Be(ExitCodes.Success);
        output.Should().Contain("features.conv3").And.Contain("1 x 64 x 16 x 16").And.Contain("Total parameters: 24,234");
    }

    [Fact]
    public async Task Failures_and_usage_errors_have_distinct_exit_codes_and_clear_messages()
    {
        var unknownModel = await Run("layers", "--model", "resnet9000");
        unknownModel.Code.Should().Be(ExitCodes.Usage);
        unknownModel.Err.Should().Contain("Unknown model 'resnet9000'. Known models: curve-circuit, small-convnet, inceptionv1;");
        unknownModel.Out.Should().BeEmpty();

        var unknownVerb = await Run("layerz");
        unknownVerb.Code.Should().Be(ExitCodes.Usage);
        unknownVerb.Err.Should().Contain("'layerz'");

        var badValue = await Run("layers", "--input-size", "big");
        badValue.Code.Should().Be(ExitCodes.Usage);
        badValue.Err.Should().Contain("big");
    }
}

public class CliModelTests
{
    [Fact]
    public async Task The_default_model_is_the_hand_built_curve_circuit()
    {
        var (code, output, error) = await CliTests.Run("layers", "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("model").GetString().Should().Be("curve-circuit");
        json.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("path").GetString()).Should().Contain(new[] { "lines", "curves_relu" });
    }

    [Fact]
    public async Task InceptionV1_without_weights_says_how_to_get_them_and_runs_with_random_weights_on_request()
    {
        string cache = Directory.CreateTempSubdirectory("circuits-cache-").FullName;
        string? previous = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
        Environment.SetEnvironmentVariable("CIRCUITS_CACHE", cache);
        try
        {
            var missing = await CliTests.Run("layers", "--model", "inceptionv1");
            missing.Code.Should().Be(ExitCodes.Failure);
            missing.Err.Should().Contain("inception5h.pth").And.Contain(cache).And.Contain("--weights").And.Contain("--random-weights");

            var random = await CliTests.Run("layers", "--model", "inceptionv1", "--random-weights", "--json", "--input-size", "96");
            random.Code.Should().Be(ExitCodes.Success, random.Err);
            using var json = JsonDocument.Parse(random.Out);
            json.RootElement.GetProperty("modelId").GetString().Should().Be("inceptionv1/random-seed=0");
            json.RootElement.GetProperty("randomWeights").GetBoolean().Should().BeTrue();
            random.Err.Should().Contain("warning: 'inceptionv1' runs with seeded RANDOM weights (seed 0)");
            json.RootElement.GetProperty("totalParameters").GetInt64().Should().Be(7_066_380);

            var badFile = await CliTests.Run("layers", "--model", "inceptionv1", "--weights", Path.Combine(cache, "nope.pth"));
            badFile.Code.Should().Be(ExitCodes.Failure);
            badFile.Err.Should().Contain("nope.pth").And.Contain("does not exist");

            var builtInWithWeights = await CliTests.Run("layers", "--weights", Path.Combine(cache, "nope.pth"));
            builtInWithWeights.Code.Should().Be(ExitCodes.Usage);
            builtInWithWeights.Err.Should().Contain("does not apply to the built-in model 'curve-circuit'");
        }
        finally
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", previous);
            Directory.Delete(cache, recursive: true);
        }
    }
}
