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
        var (code, output, error) = await Run("layers", "--json", "--input-size", "32");

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
        var (code, output, _) = await Run("layers");

        code.Should().Be(ExitCodes.Success);
        output.Should().Contain("features.conv3").And.Contain("1 x 64 x 16 x 16").And.Contain("Total parameters: 24,234");
    }

    [Fact]
    public async Task Failures_and_usage_errors_have_distinct_exit_codes_and_clear_messages()
    {
        var unknownModel = await Run("layers", "--model", "resnet9000");
        unknownModel.Code.Should().Be(ExitCodes.Failure);
        unknownModel.Err.Should().Contain("Unknown model 'resnet9000'. Known models: small-convnet, curve-circuit.");
        unknownModel.Out.Should().BeEmpty();

        var unknownVerb = await Run("layerz");
        unknownVerb.Code.Should().Be(ExitCodes.Usage);
        unknownVerb.Err.Should().Contain("'layerz'");

        var badValue = await Run("layers", "--input-size", "big");
        badValue.Code.Should().Be(ExitCodes.Usage);
        badValue.Err.Should().Contain("big");
    }
}
