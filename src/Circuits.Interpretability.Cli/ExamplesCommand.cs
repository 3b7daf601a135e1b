using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>examples</c> verb: the images of a folder that excite one neuron most (dataset examples), with crops
/// of each around its most active position, a grid of them and a JSON summary; resumable with <c>--state</c>.
/// </summary>
internal static class ExamplesCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var unit = new Option<string>("--unit", "-u") { Description = "The neuron, layer:channel (its most active position in each image counts).", Required = true };
        var images = new Option<string>("--images", "-i") { Description = "Folder of .png/.jpg/.jpeg images, searched recursively.", Required = true };
        var top = CliOptions.Int("--top", "How many of the most exciting images to keep", 9, 1, 1000, "images");
        var batch = CliOptions.Int("--batch", "Images per forward pass", 16, 1, 1024, "images");
        var size = CliOptions.OptionalInt("--size", "Square size every image is resized to (default: the model's input size)", 8, CliOptions.MaxPixels, "pixels");
        var state = new Option<string?>("--state") { Description = "Progress file: a cancelled run started again with it resumes after the last finished batch." };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the crops, their grid and the JSON summary.", DefaultValueFactory = _ => Path.Combine("out", "examples") };
        var command = new Command("examples", "Find the images of a folder that excite a neuron most; write crops around the most active positions, a grid and a JSON summary.")
        {
            unit, images, top, batch, size, state, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            NeuronAddress neuron = NeuronAddress.Parse(parse.GetValue(unit)!);
            if (neuron.Channel is null)
            {
                throw new UsageException($"--unit '{neuron}' names no channel; expected layer:channel, e.g. curves:4.");
            }

            string folder = parse.GetValue(images)!;
            if (!Directory.Exists(folder))
            {
                throw new DirectoryNotFoundException($"--images '{folder}' is not a folder; expected a folder of .png, .jpg or .jpeg images.");
            }

            using ModelSession session = ModelSession.Open(parse, error);
            ModelEntry entry = session.Entry;
            session.Check(new NeuronAddress(neuron.Layer, neuron.Channel), "--unit");
            bool json = session.Json;
            var options = new DatasetExamplesOptions
            {
                TopK = parse.GetValue(top),
                BatchSize = parse.GetValue(batch),
                InputSize = parse.GetValue(size) ?? session.InputSize,
                StatePath = parse.GetValue(state),
                Preprocess = entry.Preprocess,
            };
            using DatasetExamplesResult result = CliProgress.Run(error, "examples", 1, 0, progress =>
                DatasetExamples.Find(session.Model, neuron, folder, options, new CliProgress.Forward<DatasetExamplesProgress>(p =>
                    progress.Update(p.Total == 0 ? 1 : p.Processed / (double)p.Total, $"images of {Path.GetFileName(Path.GetFullPath(folder))}",
                        $"{p.Processed}/{p.Total} images ({p.Skipped} skipped)")), cancellationToken));
            if (result.Total == 0)
            {
                throw new CircuitsException($"The folder '{Path.GetFullPath(folder)}' holds no .png, .jpg or .jpeg images; expected at least one.");
            }

            string outFolder = parse.GetValue(outDir)!;
            Directory.CreateDirectory(outFolder);
            string stem = Path.Combine(outFolder, $"examples-{SafeFileName.From(neuron.ToString())}");
            var crops = new List<string>();
            string? grid = null;
            if (result.Crops is not null)
            {
                for (int i = 0; i < result.Examples.Count; i++)
                {
                    string path = $"{stem}-{i + 1:00}.png";
                    using Tensor crop = result.Crops[i];
                    ImageIO.SavePng(crop, path);
                    crops.Add(Path.GetFullPath(path));
                }

                grid = Path.GetFullPath(stem + ".png");
                result.SaveGrid(grid, scale: Math.Max(1, 128 / result.Examples[0].Size));
            }

            var page = new HtmlReport($"Dataset examples of {neuron}");
            page.Paragraph($"Model {entry.Name} (weights {session.Loaded.Id}{session.RandomNote}); the {result.Examples.Count} most exciting of {result.Total} images in {Path.GetFullPath(folder)}.");
            var unitReport = new UnitReport(neuron.Y is null ? neuron : new NeuronAddress(neuron.Layer, neuron.Channel));
            unitReport.AddDatasetExamples(result, folder).WriteTo(page, new UnitReportOptions { HeadingLevel = 2 });
            string reportPath = page.Save(stem + ".html");

            var summary = new
            {
                unit = neuron.ToString(),
                folder = Path.GetFullPath(folder),
                images = result.Total,
                resumedFrom = result.ResumedFrom,
                examples = result.Examples.Select((e, i) => new
                {
                    rank = i + 1,
                    path = e.Path,
                    activation = e.Activation,
                    position = new { y = e.Y, x = e.X },
                    crop = new { top = e.Top, left = e.Left, size = e.Size, image = crops[i] },
                }),
                skipped = result.Skipped.Select(s => new { path = s.Path, reason = s.Reason }),
                grid,
                report = reportPath,
            };
            string summaryJson = session.JsonResult(summary);
            string summaryPath = Path.GetFullPath(stem + ".json");
            AtomicFile.WriteAllText(summaryPath, summaryJson);

            if (json)
            {
                output.WriteLine(summaryJson);
            }
            else
            {
                output.WriteLine($"top {result.Examples.Count} of {result.Total} images for {neuron} ({entry.Name}{session.RandomNote}; {result.Skipped.Count} skipped{(result.ResumedFrom > 0 ? $", resumed after {result.ResumedFrom}" : string.Empty)}):");
                output.WriteLine("  rank  activation  position (y, x)  file");
                for (int i = 0; i < result.Examples.Count; i++)
                {
                    DatasetExample e = result.Examples[i];
                    string activation = e.Activation.ToString("F4", CultureInfo.InvariantCulture);
                    output.WriteLine($"  {i + 1,4}  {activation,10}  {$"({e.Y}, {e.X})",-15}  {Path.GetRelativePath(Path.GetFullPath(folder), e.Path)}");
                }

                foreach (SkippedImage s in result.Skipped)
                {
                    output.WriteLine($"  skipped {s.Path}: {s.Reason}");
                }

                output.WriteLine($"wrote {crops.Count} crops, the grid, {summaryPath} and the page {reportPath}");
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
