using Circuits.Interpretability.Samples.InceptionV1Samples;

namespace Circuits.Interpretability.Tests.Samples;

[CollectionDefinition(nameof(InceptionV1SamplesCollection), DisableParallelization = true)]
public sealed class InceptionV1SamplesCollection
{
}

/// <summary>Every subcommand with seeded random weights and tiny settings (shapes and flow), and the no-weights path.</summary>
[Collection(nameof(InceptionV1SamplesCollection))]
[Trait("Category", "Slow")]
public class InceptionV1SamplesTests
{
    private static readonly string[] Tiny = { "--random-weights", "--steps", "2", "--size", "64", "--stimulus-size", "64", "--step", "90" };

    [Theory]
    [InlineData("early-vision", new[] { "--layers", "conv2d0", "--units", "0,1", "--shard", "0/1" }, new[] { "conv2d0-catalog.png", "report.html" })]
    [InlineData("curve-detectors", new[] { "--units", "379,406" }, new[] { "mixed3b-379.png", "mixed3b-406.png", "curve-tuning.csv", "report.html" })]
    [InlineData("curve-circuits", new[] { "--units", "379", "--top", "2" }, new[] { "weights-mixed3b_379-1-from-mixed3a_*.png", "weights-mixed3b_379-2-from-mixed3a_*.png", "top-inputs.csv", "report.html" })]
    [InlineData("equivariance", new[] { "--units", "379,406" }, new[] { "crops.png", "similarity.csv", "report.html" })]
    [InlineData("high-low-frequency", new[] { "--units", "136" }, new[] { "mixed3a-136.png", "frequency-boundary-tuning.csv", "report.html" })]
    [InlineData("zoom-in", new[] { "--crop", "3", "--top", "2" }, new[] { "mixed4c-447.png", "circuit-mixed4c-447.png", "circuit.csv", "report.html" })]
    [InlineData("visualizing-weights", new[] { "--units", "379,406", "--top", "2" }, new[] { "weights-mixed3b-379.png", "top-inputs.csv", "nmf.png", "nmf-factors.csv", "report.html" })]
    [InlineData("branch-specialization", new[] { "--units", "379,406", "--top", "1" }, new[] { "branches.csv", "family.csv", "branch-relu_5x5.png", "report.html" })]
    [InlineData("weight-banding", new[] { "--top", "2" }, new[] { "band-strength.csv", "banding-mixed5b.conv_5x5.png", "banding-mixed3a.conv_3x3.png", "report.html" })]
    public void Every_subcommand_runs_with_random_weights(string command, string[] extra, string[] expectedFiles)
    {
        string dir = Directory.CreateTempSubdirectory("circuits-samples-").FullName;
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string[] args = new[] { command }.Concat(Tiny).Concat(extra).Concat(new[] { "--out", dir }).ToArray();

            int rc = SampleRunner.Run(args, stdout, stderr);

            rc.Should().Be(0, stderr.ToString());
            stdout.ToString().Should().Contain("random weights");
            foreach (string file in expectedFiles)
            {
                Directory.GetFiles(dir, file).Should().ContainSingle($"{command} should write {file}; it wrote {string.Join(", ", Directory.GetFiles(dir).Select(Path.GetFileName))}");
            }

            File.ReadAllText(Path.Combine(dir, "report.html")).Should().Contain("Seeded random weights");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Tuning_csv_has_a_row_per_orientation_and_a_column_per_unit()
    {
        string dir = Directory.CreateTempSubdirectory("circuits-samples-").FullName;
        try
        {
            int rc = SampleRunner.Run(new[] { "curve-detectors" }.Concat(Tiny).Concat(new[] { "--units", "379,406", "--out", dir }).ToArray(), new StringWriter(), new StringWriter());

            rc.Should().Be(0);
            string[] lines = File.ReadAllLines(Path.Combine(dir, "curve-tuning.csv"));
            lines[0].Should().Be("orientation,mixed3b:379,mixed3b:406");
            lines.Skip(1).Select(l => l.Split(',')[0]).Should().Equal("0", "90", "180", "270");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Zoom_in_lists_the_articles_inputs_and_branch_specialization_places_the_curve_detectors_in_the_5x5_branch()
    {
        string dir = Directory.CreateTempSubdirectory("circuits-samples-").FullName;
        try
        {
            SampleRunner.Run(new[] { "zoom-in" }.Concat(Tiny).Concat(new[] { "--crop", "3", "--top", "2", "--out", dir }).ToArray(), new StringWriter(), new StringWriter()).Should().Be(0);
            string[] circuit = File.ReadAllLines(Path.Combine(dir, "circuit.csv"));
            circuit.Should().Contain(l => l.EndsWith(",windows", StringComparison.Ordinal) && l.Contains("mixed4b:237", StringComparison.Ordinal));
            circuit.Should().Contain(l => l.EndsWith(",car body", StringComparison.Ordinal) && l.Contains("mixed4b:491", StringComparison.Ordinal));
            circuit.Should().Contain(l => l.EndsWith(",wheels", StringComparison.Ordinal) && l.Contains("mixed4b:373", StringComparison.Ordinal));

            SampleRunner.Run(new[] { "branch-specialization" }.Concat(Tiny).Concat(new[] { "--top", "1", "--out", dir }).ToArray(), new StringWriter(), new StringWriter()).Should().Be(0);
            File.ReadAllLines(Path.Combine(dir, "family.csv")).Skip(1).Should().HaveCount(10).And.OnlyContain(l => l.EndsWith(",mixed3b.relu_5x5", StringComparison.Ordinal));
            File.ReadAllLines(Path.Combine(dir, "branches.csv")).Should().Contain("mixed3b.relu_5x5,320,96,10");

            SampleRunner.Run(new[] { "weight-banding" }.Concat(Tiny).Concat(new[] { "--top", "1", "--out", dir }).ToArray(), new StringWriter(), new StringWriter()).Should().Be(0);
            File.ReadAllLines(Path.Combine(dir, "band-strength.csv")).Should().HaveCount(1 + 384 + 128 + 128 + 32, "a row per unit of mixed5b's and mixed3a's 3x3 and 5x5 convs");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Zoom_in_finds_the_designed_inputs_of_a_hand_built_curve_unit()
    {
        // On the curve circuit the circuit one layer back is known: the designed curve weights over the line detectors.
        using var model = new global::Circuits.Interpretability.Models.CurveCircuit();
        using var designed = model.DesignedCurveWeights();
        for (int unit = 0; unit < 16; unit += 5)
        {
            var (set, top) = ZoomIn.Circuit(model, "lines_relu", "curves", unit, new long[] { 3, 40, 40 }, crop: 13, top: 4);
            using (set)
            {
                float[] norms = Enumerable.Range(0, 16).Select(s => designed[unit, s].norm().item<float>()).ToArray();
                float fourth = norms.OrderDescending().ElementAt(3);
                // Each strongest input is one of the designed four strongest (mirror-image lines tie by design) with its designed strength.
                top.Should().HaveCount(4).And.OnlyContain(t => norms[t.SourceChannel] >= fourth * (1 - 1e-4), $"curve unit {unit}'s strongest line inputs");
                top.Should().OnlyContain(t => Math.Abs(t.Strength - norms[t.SourceChannel]) < 1e-4 * norms[t.SourceChannel]);
            }
        }
    }

    [Fact]
    public void Without_weights_it_prints_how_to_get_them_and_exits_0()
    {
        string cache = Directory.CreateTempSubdirectory("circuits-empty-cache-").FullName;
        string? before = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", cache);
            foreach (var (name, _, _) in SampleRunner.Commands)
            {
                var stdout = new StringWriter();
                int rc = SampleRunner.Run(new[] { name, "--out", Path.Combine(cache, "out") }, stdout, new StringWriter());

                rc.Should().Be(0);
                stdout.ToString().Should().Contain(Path.Combine(cache, "inception5h.pth"))
                    .And.Contain(global::Circuits.Interpretability.IO.ModelRegistry.Inception5h.Url.ToString())
                    .And.Contain("--random-weights");
                Directory.Exists(Path.Combine(cache, "out")).Should().BeFalse("nothing runs without weights");
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", before);
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public void Bad_arguments_exit_2_with_a_message()
    {
        var stderr = new StringWriter();
        SampleRunner.Run(new[] { "curve-detectors", "--steps", "zero" }, new StringWriter(), stderr).Should().Be(2);
        stderr.ToString().Should().Contain("--steps 'zero' is not valid");
        SampleRunner.Run(new[] { "no-such-thing" }, new StringWriter(), stderr).Should().Be(2);
        stderr.ToString().Should().Contain("unknown subcommand 'no-such-thing'");
    }
}
