using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"An Overview of Early Vision in InceptionV1": a feature-visualization catalog of every neuron of the early layers.</summary>
public static class EarlyVision
{
    /// <summary>The layers the article covers.</summary>
    public static IReadOnlyList<string> DefaultLayers { get; } = new[] { "conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b" };

    /// <summary>Plans the catalog (every channel, or --units of each layer), renders this shard, writes a report with a grid per layer.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<string> layers = context.Options.Layers ?? DefaultLayers;
        RenderCatalog plan = RenderCatalog.Plan(context.Model, layers, new long[] { 1, 3, context.Options.Size, context.Options.Size }, context.Options.BatchSize);
        if (context.Options.Units is { } units)
        {
            plan = RenderCatalog.Plan(plan.Batches.Select(b => b.Layer).Distinct().Select(l => (l, int.MaxValue, (IReadOnlyList<int>?)units)), context.Options.BatchSize);
        }

        IReadOnlyList<CatalogBatch> batches = plan.Batches;
        if (context.Options.Shard is { } shard)
        {
            var (index, count) = RenderCatalog.ParseShard(shard);
            batches = plan.Shard(index, count);
        }

        context.Log.WriteLine($"catalog: {plan.UnitCount} units in {plan.Batches.Count} batches; this run renders {batches.Sum(b => b.Channels.Count)} units in {batches.Count} batches");
        IProgress<CatalogProgress> progress = StepProgress.Catalog(context.Log, "rendering the catalog");
        var options = context.Render(context.Options.BatchSize);
        IReadOnlyList<CatalogEntry> entries = RenderCatalog.Run(context.Model, context.ModelId, batches, options, context.OutputFolder, InceptionV1Weights.CatalogRecipe, progress);

        var report = SampleHelpers.Report(context, "Early vision catalog", "An Overview of Early Vision in InceptionV1");
        foreach (var group in entries.GroupBy(e => e.Unit.Layer))
        {
            var images = group.Select(e => ImageIO.Load(e.ImagePath)).ToList();
            Tensor grid = ImageGrid.Make(stack(images.Select(i => i.dim() == 4 ? i[0] : i).ToArray(), 0), columns: 8);
            ImageIO.SavePng(grid, context.PathFor($"{SafeFileName.From(group.Key)}-catalog.png"));
            report.Heading($"{group.Key}: {group.Count()} units");
            report.Paragraph(string.Join(", ", group.Select(e => e.Unit.Channel)));
            report.Image(grid, $"{group.Key}, channel objective, {options.Steps} steps, {options.ImageSize} px", displayWidth: 800);
            context.Log.WriteLine($"  {group.Key}: {group.Count()} units ({group.Count(e => e.Rendered)} rendered now, the rest kept from earlier runs)");
        }

        SampleHelpers.Save(context, report);
    }
}
