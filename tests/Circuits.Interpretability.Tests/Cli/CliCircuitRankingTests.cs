using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>
/// The <c>circuit</c> verb against the curve circuit's designed kernels: the default window is the model's (13 x 13),
/// the ranking is the designed one with ties broken as stated, and each input shows its sign, its designed
/// orientation and where its strongest weight lies.
/// </summary>
public sealed class CliCircuitRankingTests
{
    /// <summary>Per line detector i: (L2 norm, sum) of the designed 13 x 13 kernel from lines:i into curves:unit, by a naive loop in double.</summary>
    private static (double Norm, double Sum)[] Designed(int unit)
    {
        using var circuit = new CurveCircuit();
        using var designed = circuit.DesignedCurveWeights();
        int lines = (int)designed.shape[1];
        var result = new (double, double)[lines];
        for (int i = 0; i < lines; i++)
        {
            float[] map = designed[unit, i].contiguous().data<float>().ToArray();
            result[i] = (Math.Sqrt(map.Sum(v => (double)v * v)), map.Sum(v => (double)v));
        }

        return result;
    }

    private static List<JsonElement> Inputs(string output) =>
        JsonDocument.Parse(output).RootElement.GetProperty("inputs").EnumerateArray().ToList();

    private static int Channel(JsonElement input) => int.Parse(input.GetProperty("unit").GetString()!.Split(':')[1], CultureInfo.InvariantCulture);

    [Fact]
    public async Task Circuit_takes_its_window_from_the_model_and_ranks_the_designed_strongest_input_first()
    {
        var (code, output, error) = await CliTests.Run("circuit", "--unit", "curves:4", "--from", "lines", "--top", "16", "--json");

        code.Should().Be(ExitCodes.Success, error);
        JsonDocument.Parse(output).RootElement.GetProperty("cropSize").GetInt32().Should().Be(13, "the curve circuit's kernels are 13 x 13");
        var inputs = Inputs(output);
        inputs.Should().HaveCount(16);
        var designed = Designed(4);

        // Every strength is the designed kernel's norm (the window covers the whole kernel).
        foreach (JsonElement input in inputs)
        {
            input.GetProperty("strength").GetDouble().Should().BeApproximately(designed[Channel(input)].Norm, 1e-6);
        }

        // The designed answer: the largest norm, and among equal ones (mirror images) the lowest channel.
        double best = designed.Max(d => d.Norm);
        int[] tied = Enumerable.Range(0, 16).Where(i => Math.Abs(designed[i].Norm - best) < 1e-6 * best).ToArray();
        tied.Should().Equal(new[] { 4, 12 }, "lines at 45° and 135° are mirror images in the unit's design");
        Channel(inputs[0]).Should().Be(4);
        Channel(inputs[1]).Should().Be(12);

        // The stated rule over the whole list: strength at 6 significant digits, highest first, then the channel.
        var keys = inputs.Select(i => (Key: double.Parse(i.GetProperty("strength").GetDouble().ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture), Channel: Channel(i))).ToList();
        keys.Should().BeInDescendingOrder(Comparer<(double Key, int Channel)>.Create((a, b) => a.Key != b.Key ? a.Key.CompareTo(b.Key) : b.Channel.CompareTo(a.Channel)));

        // The window the issue reported (5 x 5, the old default) sees only the kernel's centre and ranks another input first.
        var narrow = await CliTests.Run("circuit", "--unit", "curves:4", "--from", "lines", "--top", "1", "--crop", "5", "--json");
        Channel(Inputs(narrow.Out)[0]).Should().NotBe(4);
    }

    [Fact]
    public async Task Each_input_shows_its_sign_orientation_and_peak_so_mirror_units_are_told_apart()
    {
        var designed = Designed(0);
        var zero = await CliTests.Run("circuit", "--unit", "curves:0", "--from", "lines", "--top", "16", "--json");
        var eight = await CliTests.Run("circuit", "--unit", "curves:8", "--from", "lines", "--top", "16", "--json");
        zero.Code.Should().Be(ExitCodes.Success, zero.Err);
        eight.Code.Should().Be(ExitCodes.Success, eight.Err);
        var a = Inputs(zero.Out);
        var b = Inputs(eight.Out);

        // Units 180° apart use the same lines with the same strengths (their kernels are rotations), so the lists match...
        a.Select(Channel).Should().Equal(b.Select(Channel));

        // ...but their maps point opposite ways (each is the other turned by 180°), which the peak offsets show.
        static float[] Map(JsonElement input) => input.GetProperty("weights").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        foreach (var (x, y) in a.Zip(b))
        {
            Map(x).Zip(Map(y).Reverse(), (p, q) => Math.Abs(p - q)).Max().Should().BeLessThan(1e-6f);
        }

        static (int, int) Peak(JsonElement input) => (input.GetProperty("peak").GetProperty("dy").GetInt32(), input.GetProperty("peak").GetProperty("dx").GetInt32());
        Peak(a[0]).Should().Be((4, 0), "lines:4 weighs most 4 rows below the centre of curves:0");
        Peak(b[0]).Should().Be((-4, 0), "and 4 rows above it for curves:8");

        foreach (JsonElement input in a)
        {
            int c = Channel(input);
            input.GetProperty("sign").GetString().Should().Be(designed[c].Sum > 0 ? "+" : "-", "the sign is that of the designed kernel's sum");
            input.GetProperty("label").GetString().Should().Be($"line at {(c * 180.0 / 16).ToString("0.##", CultureInfo.InvariantCulture)}°");
        }

        a.Select(i => i.GetProperty("sign").GetString()).Should().Contain("-", "the orthogonal lines inhibit by design");
        JsonDocument.Parse(zero.Out).RootElement.GetProperty("ranking").GetString().Should().Contain("equal strengths by channel, lowest first");

        var text = await CliTests.Run("circuit", "--unit", "curves:0", "--from", "lines", "--top", "3");
        text.Out.Should().Contain("strongest inputs of curves:0 (curve, convex side at 0°) from lines (expanded weights, 13 x 13)")
            .And.Contain("compared at 6 significant digits; equal strengths by channel, lowest first")
            .And.Contain("line at 45°").And.Contain("line at 135°");
        text.Out.Split('\n').Should().Contain(l => l.Contains("lines:4") && l.Contains(" + ") && l.Contains("(4, 0)"));
    }

    [Fact]
    public void The_ranking_key_keeps_six_significant_digits()
    {
        ExpandedWeightSet.RankingKey(0.021286863833665848).Should().Be(ExpandedWeightSet.RankingKey(0.0212868619710207), "float32 noise in the 8th digit ties");
        ExpandedWeightSet.RankingKey(0.021286863833665848).Should().BeGreaterThan(ExpandedWeightSet.RankingKey(0.021286165341734886), "a difference in the 6th digit ranks");
        ExpandedWeightSet.RankingKey(1234567.0).Should().Be(1234570.0);
    }
}
