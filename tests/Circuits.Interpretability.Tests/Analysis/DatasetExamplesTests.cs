using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using SkiaSharp;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

public sealed class DatasetExamplesTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _folder;

    /// <summary>
    /// A folder of 24 64 x 64 PNGs, each one curve of orientation (i mod 8) · 45° at a seeded position; the ∩ curves
    /// (90°) are images 02, 10 and 18. Besides: a 128 x 96 JPEG with a ∩ curve twice the size (so, resized, it
    /// matches the designed radius), a duplicate of image 10 (equal activation), a corrupt PNG, an empty JPEG
    /// and a text file (ignored).
    /// </summary>
    public DatasetExamplesTests(ITestOutputHelper output)
    {
        _output = output;
        _folder = Directory.CreateTempSubdirectory("dataset-examples").FullName;
        var random = new Random(11);
        Directory.CreateDirectory(Path.Combine(_folder, "sub"));
        for (int i = 0; i < 24; i++)
        {
            var spec = new CurveStimulus { Orientation = (i % 8) * 45, CenterX = random.Next(16, 48), CenterY = random.Next(16, 48) };
            Centres[i] = ((int)spec.CenterY!.Value, (int)spec.CenterX!.Value);
            using Tensor image = Stimuli.Render(spec);
            ImageIO.SavePng(image, Path.Combine(_folder, i < 12 ? "" : "sub", $"img{i:00}.png"));
        }

        File.Copy(Path.Combine(_folder, "img10.png"), Path.Combine(_folder, "img10-copy.png"));
        using (Tensor big = Stimuli.Render(new CurveStimulus { Orientation = 90, Width = 128, Height = 96, Curvature = 0.1, ArcLength = 26.2, Thickness = 3, CenterX = 64, CenterY = 40 }))
        {
            SaveJpeg(big, Path.Combine(_folder, "wide.jpg"));
        }

        File.WriteAllBytes(Path.Combine(_folder, "broken.png"), new byte[] { 0x89, 0x50, 0x4E, 0x47, 1, 2, 3 });
        File.WriteAllBytes(Path.Combine(_folder, "empty.jpeg"), Array.Empty<byte>());
        File.WriteAllText(Path.Combine(_folder, "notes.txt"), "not an image");
    }

    private Dictionary<int, (int Y, int X)> Centres { get; } = new();

    public void Dispose() => Directory.Delete(_folder, true);

    private static void SaveJpeg(Tensor image, string path)
    {
        byte[] png = ImageIO.EncodePng(image);
        using var bitmap = SKBitmap.Decode(png);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    private string P(string name) => Path.Combine(_folder, name);

    [Fact]
    public void The_top_5_images_for_the_90_degree_curve_unit_are_the_5_upward_curves_with_19_pixel_crops_centred_on_them()
    {
        using var model = new CurveCircuit();
        using var result = DatasetExamples.Find(model, CurveCircuit.CurveUnit(4), _folder, new DatasetExamplesOptions { TopK = 5, BatchSize = 7 });
        foreach (var e in result.Examples)
        {
            _output.WriteLine($"{Path.GetRelativePath(_folder, e.Path)}: {e.Activation:F4} at ({e.Y}, {e.X}), crop {e.Size} at ({e.Top}, {e.Left})");
        }

        result.Total.Should().Be(28, "24 curves, a copy, a JPEG, a corrupt PNG and an empty JPEG; the text file is ignored");
        result.Skipped.Select(s => Path.GetFileName(s.Path)).Should().BeEquivalentTo("broken.png", "empty.jpeg");
        result.Skipped.Should().OnlyContain(s => s.Reason.Length > 0);
        var names = result.Examples.Select(e => Path.GetRelativePath(_folder, e.Path)).ToList();
        names.Take(5).Should().BeEquivalentTo("img02.png", "img10.png", "img10-copy.png", Path.Combine("sub", "img18.png"), "wide.jpg");
        result.Examples.Select(e => e.Activation).Should().BeInDescendingOrder();

        // Equal activations (an image and its copy) are ordered by path: "img10-copy.png" < "img10.png" ordinally.
        int copy = names.IndexOf("img10-copy.png"), original = names.IndexOf("img10.png");
        result.Examples[copy].Activation.Should().Be(result.Examples[original].Activation);
        copy.Should().Be(original - 1);

        // The most active position is the curve's centre (stride 1), and the crop (the receptive field, 19) is centred on it.
        foreach (var (name, index) in new[] { ("img02.png", 2), ("img10.png", 10), (Path.Combine("sub", "img18.png"), 18) })
        {
            var e = result.Examples[names.IndexOf(name)];
            Math.Abs(e.Y - Centres[index].Y).Should().BeLessThanOrEqualTo(1);
            Math.Abs(e.X - Centres[index].X).Should().BeLessThanOrEqualTo(1);
            e.Size.Should().Be(19);
            (e.Top + 9).Should().Be(e.Y);
            (e.Left + 9).Should().Be(e.X);
        }

        result.Crops!.shape.Should().Equal(5, 3, 19, 19);
        // A crop is the resized input's pixels there.
        var first = result.Examples[0];
        using Tensor again = DatasetExamples.LoadForModel(first.Path, 64);
        HandBuiltNet.Values(result.Crops[0]).Should().Equal(HandBuiltNet.Values(again[TensorIndex.Colon, TensorIndex.Slice(first.Top, first.Top + 19), TensorIndex.Slice(first.Left, first.Left + 19)]));
    }

    [Fact]
    public void The_receptive_field_of_the_curve_units_measures_19_pixels()
    {
        using var model = new CurveCircuit();
        DatasetExamples.MeasureReceptiveField(model, "curves_relu", 48).Should().Be(19);
        DatasetExamples.MeasureReceptiveField(model, "lines", 48).Should().Be(7);
    }

    [Fact]
    public void A_cancelled_run_resumes_from_its_state_file_and_ends_with_the_same_result_as_one_run()
    {
        using var model = new CurveCircuit();
        var options = new DatasetExamplesOptions { TopK = 4, BatchSize = 6, StatePath = P("state.json") };
        using var cts = new CancellationTokenSource();
        var reports = new List<DatasetExamplesProgress>();
        var first = () => DatasetExamples.Find(model, "curves_relu:4", _folder, options,
            new Recorder<DatasetExamplesProgress>(p => { reports.Add(p); if (p.Processed >= 12) cts.Cancel(); }), cts.Token);
        first.Should().Throw<OperationCanceledException>();
        reports.Select(r => r.Processed).Should().Equal(0, 6, 12);
        File.Exists(P("state.json")).Should().BeTrue();
        Directory.GetFiles(_folder, "*.tmp").Should().BeEmpty("the state is written atomically");
        File.ReadAllText(P("state.json")).Should().Contain("\"Processed\": 12");

        var resumedReports = new List<DatasetExamplesProgress>();
        using var resumed = DatasetExamples.Find(model, "curves_relu:4", _folder, options, new Recorder<DatasetExamplesProgress>(resumedReports.Add));
        resumed.ResumedFrom.Should().Be(12);
        resumedReports.Select(r => r.Processed).Should().Equal(12, 18, 24, 28);

        using var fresh = DatasetExamples.Find(model, "curves_relu:4", _folder, options with { StatePath = null });
        fresh.ResumedFrom.Should().Be(0);
        resumed.Examples.Should().Equal(fresh.Examples);
        resumed.Skipped.Should().Equal(fresh.Skipped);
        HandBuiltNet.Values(resumed.Crops!).Should().Equal(HandBuiltNet.Values(fresh.Crops!));

        // A finished state answers at once; a state of another search is refused with both named.
        using var done = DatasetExamples.Find(model, "curves_relu:4", _folder, options);
        done.ResumedFrom.Should().Be(28);
        done.Examples.Should().Equal(fresh.Examples);
        var other = () => DatasetExamples.Find(model, "curves_relu:5", _folder, options);
        other.Should().Throw<CircuitsException>().WithMessage("*belongs to another search*curves_relu:4*curves_relu:5*");
    }

    [Fact]
    public void Memory_stays_flat_over_batches_and_nothing_outlives_the_result()
    {
        using var model = new CurveCircuit();
        var options = new DatasetExamplesOptions { TopK = 3, BatchSize = 4, CropSize = 9 };
        using (DatasetExamples.Find(model, "curves_relu:0", _folder, options))
        {
            // warm-up: lazily created native state
        }

        var live = new List<long>();
        var progress = new Recorder<DatasetExamplesProgress>(_ => live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount));
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var result = DatasetExamples.Find(model, "curves_relu:0", _folder, options, progress))
        {
            result.Examples.Should().HaveCount(3);
        }

        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        _output.WriteLine($"live tensors before {before}, at each of {live.Count} progress reports {string.Join(", ", live.Distinct())}, after {after}");
        live.Should().HaveCount(8, "a report before the first batch and one after each of the 7 batches of 4");
        live.Distinct().Should().HaveCount(1, "no batch leaves a tensor behind: only the top-k paths and numbers are kept between batches");
        after.Should().Be(before);
    }

    [Fact]
    public void Addresses_without_a_channel_bad_options_and_missing_folders_are_refused_with_the_valid_choices()
    {
        using var model = new CurveCircuit();
        var noChannel = () => DatasetExamples.Find(model, "curves_relu", _folder);
        noChannel.Should().Throw<InvalidAddressException>().WithMessage("*curves_relu:<channel>*");
        var badCrop = () => DatasetExamples.Find(model, "curves_relu:1", _folder, new DatasetExamplesOptions { CropSize = 100 });
        badCrop.Should().Throw<CircuitsException>().WithMessage("*CropSize is 100*1 to InputSize (64)*");
        var missing = () => DatasetExamples.Find(model, "curves_relu:1", P("nowhere"));
        missing.Should().Throw<DirectoryNotFoundException>().WithMessage("*nowhere*");
    }

    private sealed class Recorder<T> : IProgress<T>
    {
        private readonly Action<T> _onReport;

        public Recorder(Action<T> onReport) => _onReport = onReport;

        public void Report(T value) => _onReport(value);
    }
}
