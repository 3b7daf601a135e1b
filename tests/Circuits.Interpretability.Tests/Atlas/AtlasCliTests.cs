using System.Text.Json;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting.Atlas;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Atlas;

/// <summary>The <c>atlas</c> verb's plan, its sub-verbs and its mistakes, and dataset examples on unit pages.</summary>
public sealed class AtlasCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-atlas-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Annotate_writes_the_notes_and_asks_git_for_the_union_merge()
    {
        string notes = Path.Combine(_folder, "atlas-notes.tsv");

        var (code, output, error) = AtlasFixture.Cli(new[] { "atlas", "annotate", "curves:3", "--family", "curve detectors", "--note", "tab\there", "--notes", notes, "--json" });

        code.Should().Be(ExitCodes.Success, error);
        using JsonDocument json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("revision").GetInt32().Should().Be(1);
        json.RootElement.GetProperty("gitattributesUpdated").GetBoolean().Should().BeTrue();
        File.ReadAllText(notes).Should().EndWith("curves:3\tcurve detectors\ttab\\there\t1\n");
        File.ReadAllText(Path.Combine(_folder, ".gitattributes")).Should().Contain("atlas-notes.tsv merge=union");

        var (again, text, _) = AtlasFixture.Cli(new[] { "atlas", "annotate", "curves:3", "--clear", "--notes", notes });
        again.Should().Be(ExitCodes.Success);
        text.Should().Contain("curves:3: family '', note '' (revision 2)").And.NotContain("gitattributes");
    }

    [Fact]
    public void Mistakes_are_usage_errors_that_name_the_value()
    {
        var nothing = AtlasFixture.Cli(new[] { "atlas", "annotate", "curves:3", "--notes", Path.Combine(_folder, "n.tsv") });
        nothing.Code.Should().Be(ExitCodes.Usage);
        nothing.Err.Should().Contain("Nothing to change for curves:3: give --family NAME, --note TEXT, or --clear.");

        var both = AtlasFixture.Cli(new[] { "atlas", "annotate", "curves:3", "--clear", "--family", "x", "--notes", Path.Combine(_folder, "n.tsv") });
        both.Code.Should().Be(ExitCodes.Usage);
        both.Err.Should().Contain("give it alone");

        var shard = AtlasFixture.Cli(new[] { "atlas", "--shard", "4/4", "--plan" });
        shard.Code.Should().Be(ExitCodes.Usage);
        shard.Err.Should().Contain("--shard: Shard '4/4' is not valid; expected i/n with 0 <= i < n");

        var layer = AtlasFixture.Cli(new[] { "atlas", "--layers", "curvez", "--plan" });
        layer.Code.Should().Be(ExitCodes.Usage);
        layer.Err.Should().Contain("curvez").And.Contain("curves");

        var even = AtlasFixture.Cli(new[] { "atlas", "--crop", "4", "--plan" });
        even.Code.Should().Be(ExitCodes.Usage);
        even.Err.Should().Contain("--crop 4 is even");

        var merge = AtlasFixture.Cli(new[] { "atlas", "merge", "--out", Path.Combine(_folder, "nothing"), "--json" });
        merge.Code.Should().Be(ExitCodes.Failure);
        JsonDocument.Parse(merge.Out).RootElement.GetProperty("error").GetProperty("message").GetString().Should().Contain("is not an atlas folder");
        File.Exists(Path.Combine(_folder, "n.tsv")).Should().BeFalse("nothing is written when the command line is wrong");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void The_plan_of_inceptionv1_lists_its_layers_and_shards_without_rendering()
    {
        var (code, output, error) = AtlasFixture.Cli(new[] { "atlas", "--model", "inceptionv1", "--random-weights", "--plan", "--shard", "3/16", "--json", "--out", Path.Combine(_folder, "site") });

        code.Should().Be(ExitCodes.Success, error);
        JsonElement plan = JsonDocument.Parse(output).RootElement;
        plan.GetProperty("units").GetInt32().Should().Be(64 + 64 + 192 + 256 + 480 + 508 + 512 + 512 + 528 + 832 + 832 + 1024);
        plan.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()).Should().Equal(
            "conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b");
        plan.GetProperty("shardBatches").EnumerateArray().Should().OnlyContain(b => b.GetProperty("index").GetInt32() % 16 == 3);
        plan.GetProperty("randomWeights").GetBoolean().Should().BeTrue();
        Directory.Exists(Path.Combine(_folder, "site")).Should().BeFalse("a plan writes nothing");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void With_a_folder_of_images_unit_pages_show_their_dataset_examples()
    {
        string images = Path.Combine(_folder, "images");
        Directory.CreateDirectory(images);
        for (int angle = 0; angle < 360; angle += 30)
        {
            using Tensor curve = Stimuli.Render(new CurveStimulus { Width = 64, Height = 64, Orientation = angle });
            ImageIO.SavePng(curve, Path.Combine(images, $"curve-{angle:D3}.png"));
        }

        File.WriteAllText(Path.Combine(images, "broken.png"), "not a png");
        string site = Path.Combine(_folder, "site");

        var (code, output, error) = AtlasFixture.Cli(new[]
        {
            "atlas", "--layers", "curves", "--channels", "0,4", "--images", images, "--examples", "3", "--steps", "4", "--size", "32", "--diverse", "2",
            "--out", site, "--notes", Path.Combine(_folder, "notes.tsv"), "--json",
        });

        code.Should().Be(ExitCodes.Success, error);
        JsonDocument.Parse(output).RootElement.GetProperty("exampleSearches").GetInt32().Should().Be(2);
        string page = File.ReadAllText(Path.Combine(site, "units", "curves", "4.html"));
        page.Should().Contain("Dataset examples").And.Contain("1 unreadable");
        JsonElement record = JsonDocument.Parse(File.ReadAllText(Path.Combine(site, "data", "curves", "0004.json"))).RootElement;
        JsonElement found = JsonDocument.Parse(File.ReadAllText(Path.Combine(site, record.GetProperty("examples").GetString()!))).RootElement;
        found.GetProperty("items")[0].GetProperty("fileLabel").GetString().Should().Be("curve-090.png", "curves:4 was designed for 90°, so the curve drawn at 90° excites it most");
        found.GetProperty("imagesSearched").GetInt32().Should().Be(13);
        var crops = System.Text.RegularExpressions.Regex.Matches(page, "src=\"(\\.\\./\\.\\./parts/curves/0004/examples-[0-9a-f]+-[0-9]\\.png)\"");
        crops.Should().HaveCount(3);
        crops.Should().OnlyContain(m => File.Exists(Path.Combine(site, "units", "curves", m.Groups[1].Value)));
        AtlasNotes.Load(Path.Combine(_folder, "notes.tsv")).Entries.Should().BeEmpty();
    }
}
