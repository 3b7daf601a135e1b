using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Tests.Cli;

public sealed class CliVerbTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Tuning_finds_a_curve_units_designed_orientation_and_writes_csv_and_plot()
    {
        using var circuit = new CurveCircuit();
        var (code, output, error) = await CliTests.Run("tuning", "--unit", "curves_relu:4", "--step", "7.5", "--out", _folder, "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        double peak = json.RootElement.GetProperty("peak").GetProperty("value").GetDouble();
        peak.Should().BeApproximately(circuit.CurveOrientations[4], 7.5);
        json.RootElement.GetProperty("values").GetArrayLength().Should().Be(48);
        File.Exists(json.RootElement.GetProperty("csv").GetString()).Should().BeTrue();
        File.Exists(json.RootElement.GetProperty("plot").GetString()).Should().BeTrue();

        var text = await CliTests.Run("tuning", "--unit", "curves_relu:12");
        text.Code.Should().Be(ExitCodes.Success);
        text.Out.Should().Contain("peak: orientation = 270");
    }

    [Fact]
    public async Task Circuit_lists_the_strongest_inputs_with_the_designed_weights_and_writes_the_graph()
    {
        using var circuit = new CurveCircuit();
        using var designed = circuit.DesignedCurveWeights();
        var (code, output, error) = await CliTests.Run("circuit", "--unit", "curves:4", "--from", "lines", "--top", "3", "--crop", "13", "--out", _folder, "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        var inputs = json.RootElement.GetProperty("inputs").EnumerateArray().ToList();
        inputs.Should().HaveCount(3);
        foreach (var input in inputs)
        {
            int source = int.Parse(input.GetProperty("unit").GetString()!.Split(':')[1]);
            float[] map = input.GetProperty("weights").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
            float[] expected = designed[4, source].data<float>().ToArray();
            map.Zip(expected, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f, "the expanded weights over the line detectors are the designed ones");
            File.Exists(input.GetProperty("image").GetString()).Should().BeTrue();
        }

        inputs.Select(i => i.GetProperty("strength").GetDouble()).Should().BeInDescendingOrder();
        File.ReadAllText(Path.Combine(_folder, "circuit-curves_4.dot")).Should().Contain("digraph");
        using var graph = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder, "circuit-curves_4.json")));
        graph.RootElement.GetProperty("nodes").GetArrayLength().Should().Be(4);

        // The graph is built from the same expanded weights as the listing: same inputs, same order, same strengths.
        var edges = graph.RootElement.GetProperty("edges").EnumerateArray().ToList();
        edges.Select(e => e.GetProperty("source").GetString()).Should().Equal(inputs.Select(i => i.GetProperty("unit").GetString()));
        edges.Select(e => e.GetProperty("strength").GetDouble()).Should().Equal(inputs.Select(i => i.GetProperty("strength").GetDouble()));
    }

    [Fact]
    public async Task Bad_units_layers_and_sweeps_are_clear_usage_errors()
    {
        var unknown = await CliTests.Run("tuning", "--unit", "curvez:4");
        unknown.Code.Should().Be(ExitCodes.Usage);
        unknown.Err.Should().Contain("curvez").And.Contain("curves");

        var channel = await CliTests.Run("circuit", "--unit", "curves:99", "--from", "lines");
        channel.Code.Should().Be(ExitCodes.Usage);
        channel.Err.Should().Contain("--unit 'curves:99': channel 99 is outside layer 'curves', which has channels 0 to 15.");

        var sweep = await CliTests.Run("tuning", "--unit", "curves:1", "--sweep", "colour");
        sweep.Code.Should().Be(ExitCodes.Usage);
        sweep.Err.Should().Contain("--sweep 'colour' is not known; expected orientation, curvature or frequency.");

        var missing = await CliTests.Run("circuit", "--unit", "curves:1");
        missing.Code.Should().Be(ExitCodes.Usage);
        missing.Err.Should().Contain("--from");
    }

    [Fact]
    public async Task Tuning_file_names_carry_the_stimulus_so_sweeps_do_not_overwrite_each_other()
    {
        var curve = await CliTests.Run("tuning", "--unit", "curves_relu:4", "--step", "15", "--out", _folder, "--json");
        var line = await CliTests.Run("tuning", "--unit", "curves_relu:4", "--step", "15", "--stimulus", "line", "--out", _folder, "--json");

        curve.Code.Should().Be(ExitCodes.Success, curve.Err);
        line.Code.Should().Be(ExitCodes.Success, line.Err);
        string curveCsv = Path.Combine(_folder, "tuning-curves_relu_4-orientation-curve.csv");
        string lineCsv = Path.Combine(_folder, "tuning-curves_relu_4-orientation-line.csv");
        JsonDocument.Parse(curve.Out).RootElement.GetProperty("csv").GetString().Should().Be(curveCsv);
        JsonDocument.Parse(line.Out).RootElement.GetProperty("csv").GetString().Should().Be(lineCsv);
        JsonDocument.Parse(line.Out).RootElement.GetProperty("stimulus").GetString().Should().Be("line");
        File.ReadAllText(curveCsv).Should().NotBe(File.ReadAllText(lineCsv), "both results are kept");
        File.Exists(Path.ChangeExtension(curveCsv, ".png")).Should().BeTrue();
        File.Exists(Path.ChangeExtension(lineCsv, ".png")).Should().BeTrue();
    }

    [Fact]
    public async Task Random_weights_are_flagged_in_circuit_tuning_and_the_report_summary()
    {
        string[] model = { "--model", "small-convnet" };
        var circuit = await CliTests.Run(model.Concat(new[] { "circuit", "--unit", "features.conv2:0", "--from", "features.conv1", "--top", "2" }).ToArray());
        circuit.Code.Should().Be(ExitCodes.Success, circuit.Err);
        circuit.Out.Should().Contain("seeded RANDOM weights (seed 0)");
        circuit.Err.Should().Contain("warning: 'small-convnet' runs with seeded RANDOM weights (seed 0)");

        var circuitJson = await CliTests.Run(model.Concat(new[] { "circuit", "--unit", "features.conv2:0", "--from", "features.conv1", "--top", "2", "--json" }).ToArray());
        JsonDocument.Parse(circuitJson.Out).RootElement.GetProperty("randomWeights").GetBoolean().Should().BeTrue();

        var tuning = await CliTests.Run(model.Concat(new[] { "tuning", "--unit", "features.conv2:0", "--step", "45" }).ToArray());
        tuning.Code.Should().Be(ExitCodes.Success, tuning.Err);
        tuning.Out.Should().Contain("seeded RANDOM weights (seed 0)");

        var report = await CliTests.Run(model.Concat(new[] { "report", "--units", "features.conv2:0,1", "--steps", "3", "--size", "16", "--out", Path.Combine(_folder, "r") }).ToArray());
        report.Code.Should().Be(ExitCodes.Success, report.Err);
        report.Out.Should().Contain("(RANDOM weights: seeded RANDOM weights (seed 0); the report shows shapes and data flow, not learned features)");

        var designed = await CliTests.Run("tuning", "--unit", "curves_relu:4", "--step", "45", "--json");
        JsonDocument.Parse(designed.Out).RootElement.GetProperty("randomWeights").GetBoolean().Should().BeFalse();
        designed.Err.Should().NotContain("RANDOM");
    }
}
