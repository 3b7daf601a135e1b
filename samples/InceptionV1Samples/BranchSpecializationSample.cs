using System.Globalization;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Branch Specialization": which branch of a mixed layer each unit comes from, and how a family clusters in one.</summary>
public static class BranchSpecializationSample
{
    /// <summary>The branch outputs of an InceptionV1 mixed layer, in the order the layer concatenates them.</summary>
    public static IReadOnlyList<string> Branches(string layer) =>
        new[] { "relu_1x1", "relu_3x3", "relu_5x5", "relu_pool_reduce" }.Select(b => $"{layer}.{b}").ToArray();

    /// <summary>Finds the branches' channel ranges, counts the family (default: the curve detectors) per branch, renders the family and a few units of each branch.</summary>
    public static void Run(SampleContext context)
    {
        string layer = context.Options.Layers?.FirstOrDefault() ?? CurveDetectors.Layer;
        IReadOnlyList<int> family = context.Options.Units ?? CurveDetectors.DefaultUnits;
        var ranges = BranchSpecialization.ChannelRanges(context.Model, layer, Branches(layer), new long[] { 3, context.Options.Size, context.Options.Size });
        int width = ranges.Sum(r => r.Count);
        var counts = BranchSpecialization.Counts(ranges, family);
        var report = SampleHelpers.Report(context, $"Branch specialization in {layer}", "Branch Specialization");
        report.Paragraph($"{layer} concatenates four branches. Their channel ranges were found by running the model (each branch's output is located in the layer's output). The family studied: {string.Join(", ", family.Select(u => $"{layer}:{u}"))}.");
        var rows = counts.Select(c => (IReadOnlyList<string>)new[]
        {
            c.Branch.Branch, $"{c.Branch.Start}..{c.Branch.Start + c.Branch.Count - 1}", c.Branch.Count.ToString(CultureInfo.InvariantCulture),
            c.Count.ToString(CultureInfo.InvariantCulture),
            BranchSpecialization.ChanceAllInBranch(width, c.Branch.Count, family.Count).ToString("0.##E+0", CultureInfo.InvariantCulture),
        }).ToList();
        report.Table(new[] { "branch", "channels", "width", "family units here", $"chance all {family.Count} land here at random" }, rows);
        File.WriteAllText(context.PathFor("branches.csv"), "branch,start,count,family_units\n" + string.Join("\n", counts.Select(c => $"{c.Branch.Branch},{c.Branch.Start},{c.Branch.Count},{c.Count}")) + "\n");
        File.WriteAllText(context.PathFor("family.csv"), "unit,branch\n" + string.Join("\n", family.Select(u => $"{layer}:{u},{BranchSpecialization.BranchOf(ranges, u).Branch}")) + "\n");
        foreach (var c in counts)
        {
            context.Log.WriteLine($"  {c.Branch.Branch}: channels {c.Branch.Start}..{c.Branch.Start + c.Branch.Count - 1}, {c.Count} of the family");
        }

        report.Paragraph($"The article: all 30 curve-related units of mixed3b are in mixed3b_5x5 (96 of 480 units; by chance {BranchSpecialization.ChanceAllInBranch(480, 96, 30).ToString("0.#E+0", CultureInfo.InvariantCulture)}), and all 9 black-and-white vs colour units of mixed3a in mixed3a_5x5 (32 of 256; {BranchSpecialization.ChanceAllInBranch(256, 32, 9).ToString("0.#E+0", CultureInfo.InvariantCulture)}).");
        report.Heading("The family");
        var images = SampleHelpers.RenderUnits(context, layer, family);
        report.Images(family.Select((u, i) => (images[i], $"{layer}:{u} ({BranchSpecialization.BranchOf(ranges, u).Branch.Split('.').Last()})")), displayWidth: 128);
        report.Heading("A few units of each branch");
        foreach (BranchRange r in ranges)
        {
            var sample = Enumerable.Range(r.Start, Math.Min(context.Options.Top, r.Count)).ToList();
            var renders = SampleHelpers.RenderUnits(context, layer, sample);
            ImageIO.SavePng(ImageGrid.Make(renders, columns: sample.Count), context.PathFor($"branch-{r.Branch.Split('.').Last()}.png"));
            report.Paragraph($"{r.Branch}: its first {sample.Count} units.");
            report.Images(sample.Select((u, i) => (renders[i], $"{layer}:{u}")), displayWidth: 96);
        }

        SampleHelpers.Save(context, report);
    }
}
