using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Tests.Cli;

namespace Circuits.Interpretability.Tests.Rendering;

public sealed class RenderCatalogTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "circuits-catalog-" + Guid.NewGuid().ToString("N"));

    private static readonly RenderOptions Quick = new() { Steps = 3, ImageSize = 16, Seed = 5 };

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void The_plan_cuts_each_layer_into_consecutive_batches_and_shards_partition_it()
    {
        var catalog = RenderCatalog.Plan(new (string, int, IReadOnlyList<int>?)[] { ("a", 10, null), ("b", 3, null), ("c", 8, new[] { 7, 1, 3, 3 }) }, batchSize: 4);

        catalog.Batches.Select(b => $"{b.Layer}:{string.Join(",", b.Channels)}").Should().Equal(
            "a:0,1,2,3", "a:4,5,6,7", "a:8,9", "b:0,1,2", "c:1,3,7");
        catalog.UnitCount.Should().Be(10 + 3 + 3);
        catalog.Batches.Select(b => b.Index).Should().Equal(0, 1, 2, 3, 4);

        var shards = Enumerable.Range(0, 3).Select(i => catalog.Shard(i, 3)).ToList();
        shards.SelectMany(s => s.Select(b => b.Index)).Order().Should().Equal(0, 1, 2, 3, 4);
        shards[0].Select(b => b.Index).Should().Equal(0, 3);
        shards[1].Select(b => b.Index).Should().Equal(1, 4);
        shards[2].Select(b => b.Index).Should().Equal(2);
    }

    [Fact]
    public void Shards_and_channels_are_validated_with_clear_messages()
    {
        RenderCatalog.ParseShard("3/8").Should().Be((3, 8));
        foreach (string bad in new[] { "8/8", "1", "-1/4", "a/b", "1/0", "" })
        {
            FluentActions.Invoking(() => RenderCatalog.ParseShard(bad)).Should().Throw<ArgumentException>().WithMessage($"Shard '{bad}' is not valid; expected i/n with 0 <= i < n*");
        }

        FluentActions.Invoking(() => RenderCatalog.Plan(new (string, int, IReadOnlyList<int>?)[] { ("conv", 8, new[] { 2, 9 }) }, 4))
            .Should().Throw<UnitOutOfRangeException>().WithMessage("Channel 9 is out of range for layer 'conv', which has 8 channels (0 to 7).");
        using var model = new SmallConvNet(width: 4);
        FluentActions.Invoking(() => RenderCatalog.Plan(model, new[] { "features.conv9" }, new long[] { 1, 3, 16, 16 }, 4))
            .Should().Throw<UnknownLayerException>().WithMessage("*features.conv9*features.conv*");
    }

    [Fact]
    public void Keys_change_with_everything_that_determines_the_image_and_nothing_else()
    {
        var batch = new CatalogBatch(0, "features.conv2", new[] { 0, 1 });
        string key = RenderCatalog.Key("m/seed=0", batch, 1, Quick);

        key.Should().MatchRegex("^[0-9a-f]{16}$");
        RenderCatalog.Key("m/seed=0", batch with { Index = 7 }, 1, Quick).Should().Be(key, "the batch's position in a plan does not change its images");
        RenderCatalog.Key("m/seed=0", batch, 1, Quick with { }).Should().Be(key);
        new[]
        {
            RenderCatalog.Key("m/seed=1", batch, 1, Quick),
            RenderCatalog.Key("m/seed=0", batch, 0, Quick),
            RenderCatalog.Key("m/seed=0", batch with { Channels = new[] { 1 } }, 1, Quick),
            RenderCatalog.Key("m/seed=0", batch, 1, Quick with { Steps = 4 }),
            RenderCatalog.Key("m/seed=0", batch, 1, Quick with { Seed = 6 }),
            RenderCatalog.Key("m/seed=0", batch, 1, Quick with { ImageSize = 17 }),
            RenderCatalog.Key("m/seed=0", batch, 1, Quick with { Transforms = Array.Empty<IImageTransform>() }),
            RenderCatalog.Key("m/seed=0", batch, 1, Quick, recipe: "other"),
        }.Should().OnlyHaveUniqueItems().And.NotContain(key);
    }

    [Fact]
    public void A_run_writes_content_addressed_files_resumes_and_shards_give_the_same_bytes()
    {
        using var model = new SmallConvNet(seed: 1, width: 4);
        var catalog = RenderCatalog.Plan(model, new[] { "features.conv1", "features.conv2" }, new long[] { 1, 3, 16, 16 }, batchSize: 3);
        catalog.UnitCount.Should().Be(4 + 8);

        string whole = Path.Combine(_folder, "whole");
        var first = RenderCatalog.Run(model, "small/seed=1", catalog.Batches, Quick, whole);
        first.Should().HaveCount(12).And.OnlyContain(e => e.Rendered && File.Exists(e.ImagePath) && File.Exists(e.MetadataPath));
        first.Select(e => e.Unit.ToString()).Should().Equal(
            Enumerable.Range(0, 4).Select(c => $"features.conv1:{c}").Concat(Enumerable.Range(0, 8).Select(c => $"features.conv2:{c}")));
        Path.GetFileName(first[5].ImagePath).Should().Be($"0001-{RenderCatalog.Key("small/seed=1", catalog.Batches[2], 1, Quick)}.png");
        using (var meta = JsonDocument.Parse(File.ReadAllText(first[5].MetadataPath)))
        {
            meta.RootElement.GetProperty("unit").GetString().Should().Be("features.conv2:1");
            meta.RootElement.GetProperty("finalObjective").GetDouble().Should().Be(first[5].FinalObjective);
        }

        Directory.EnumerateFiles(whole, "*.tmp", SearchOption.AllDirectories).Should().BeEmpty();

        // Resume: everything complete is kept; a unit whose metadata is missing (an interrupted batch) is redone.
        var stamps = first.ToDictionary(e => e.ImagePath, e => File.ReadAllBytes(e.ImagePath));
        File.Delete(first[7].MetadataPath);
        var second = RenderCatalog.Run(model, "small/seed=1", catalog.Batches, Quick, whole);
        second.Where(e => e.Rendered).Select(e => e.Unit.ToString()).Should().Equal("features.conv2:3", "features.conv2:4", "features.conv2:5");
        second.Select(e => File.ReadAllBytes(e.ImagePath)).Should().BeEquivalentTo(first.Select(e => stamps[e.ImagePath]), o => o.WithStrictOrdering());

        // Two shards on "two machines" produce exactly the files of the unsharded run.
        string sharded = Path.Combine(_folder, "sharded");
        RenderCatalog.Run(model, "small/seed=1", catalog.Shard(0, 2), Quick, sharded);
        RenderCatalog.Run(model, "small/seed=1", catalog.Shard(1, 2), Quick, sharded);
        var wholeFiles = Directory.EnumerateFiles(whole, "*.png", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(whole, p)).Order().ToList();
        var shardFiles = Directory.EnumerateFiles(sharded, "*.png", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(sharded, p)).Order().ToList();
        shardFiles.Should().Equal(wholeFiles);
        foreach (string file in wholeFiles)
        {
            File.ReadAllBytes(Path.Combine(sharded, file)).Should().Equal(File.ReadAllBytes(Path.Combine(whole, file)), file);
        }
    }

    [Fact]
    public async Task The_render_verb_renders_a_shard_as_json_and_reports_bad_arguments()
    {
        string folder = Path.Combine(_folder, "cli");
        var (code, output, error) = await CliTests.Run("render", "--model", "small-convnet", "--layers", "features.conv1", "--channels", "0-3", "--steps", "2", "--size", "16",
            "--batch", "2", "--shard", "1/2", "--out", folder, "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("shard").GetString().Should().Be("1/2");
        json.RootElement.GetProperty("rendered").GetInt32().Should().Be(2);
        json.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("unit").GetString()).Should().Equal("features.conv1:2", "features.conv1:3");

        var again = await CliTests.Run("render", "--model", "small-convnet", "--layers", "features.conv1", "--channels", "0-3", "--steps", "2", "--size", "16",
            "--batch", "2", "--shard", "1/2", "--out", folder);
        again.Code.Should().Be(ExitCodes.Success);
        again.Out.Should().Contain("2 units (0 rendered, 2 already complete)");

        var plan = await CliTests.Run("render", "--model", "small-convnet", "--plan", "--batch", "16");
        plan.Out.Should().Contain("catalog: 112 units in 7 batches");

        var badShard = await CliTests.Run("render", "--model", "small-convnet", "--shard", "4/4", "--out", folder);
        badShard.Code.Should().Be(ExitCodes.Usage);
        badShard.Err.Should().Contain("--shard '4/4' is not valid; expected i/n with 0 <= i < n");

        var badChannels = await CliTests.Run("render", "--model", "small-convnet", "--layers", "features.conv1", "--channels", "3-1", "--out", folder);
        badChannels.Code.Should().Be(ExitCodes.Usage);
        badChannels.Err.Should().Contain("'3-1'");

        var badLayer = await CliTests.Run("render", "--model", "small-convnet", "--layers", "features.conv7", "--out", folder);
        badLayer.Code.Should().Be(ExitCodes.Usage);
        badLayer.Err.Should().Contain("features.conv7").And.Contain("features.conv1");
    }
}
