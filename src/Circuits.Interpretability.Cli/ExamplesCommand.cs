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
        var top = new Option<int>("--top") { Description = "How many of the most exciting images to keep.", DefaultValueFactory = _ => 9 };
        var batch = new Option<int>("--batch") { Description = "Images per forward pass.", DefaultValueFactory = _ => 16 };
        var size = new Option<int?>("--size") { Description = "Square size every image is resized to (default: the model's input size)." };
        var state = new Option<string?>("--state") { Description = "Progress file: a cancelled run started again with it resumes after the last finished batch." };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the crops, their grid and the JSON summary.", DefaultValueFactory = _ => Path.Combine("out", "examples") };
        var command = new Command("examples", "Find the images of a folder that excite a neuron most; write crops around the most active positions, a grid and a JSON summary.")
        {
            unit, images, top, batch, size, state, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            bool json = parse.GetValue(CircuitsCli.Json);
            NeuronAddress neuron = NeuronAddress.Parse(parse.GetValue(unit)!);
            string folder = parse.GetValue(images)!;
            if (!Directory.Exists(folder))
            {
                throw new DirectoryNotFoundException($"--images '{folder}' is not a folder; expected a folder of .png, .jpg or .jpeg images.");
            }

            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            var options = new DatasetExamplesOptions
            {
                TopK = parse.GetValue(top),
                BatchSize = parse.GetValue(batch),
                InputSize = parse.GetValue(size) ?? entry.DefaultInputSize,
                StatePath = parse.GetValue(state),
                Preprocess = entry.Preprocess,
            };
            using DatasetExamplesResult result = CliProgress.Run(error, json, "dataset examples", 1, update =>
                DatasetExamples.Find(loaded.Model, neuron, folder, options, new CliProgress.Forward<DatasetExamplesProgress>(p =>
                    update(p.Total == 0 ? 1 : p.Processed / (double)p.Total, $"images {p.Processed}/{p.Total} ({p.Skipped} skipped)")), cancellationToken));
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
            page.Paragraph($"Model {entry.Name} (weights {loaded.Id}); the {result.Examples.Count} most exciting of {result.Total} images in {Path.GetFullPath(folder)}.");
            var unitReport = new UnitReport(neuron.Y is null ? neuron : new NeuronAddress(neuron.Layer, neuron.Channel));
            unitReport.AddDatasetExamples(result, folder).WriteTo(page, new UnitReportOptions { HeadingLevel = 2 });
            string reportPath = page.Save(stem + ".html");

            var summary = new
            {
                model = entry.Name,
                modelId = loaded.Id,
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
            string summaryJson = JsonSerializer.Serialize(summary, CircuitsCli.JsonOptions);
            string summaryPath = Path.GetFullPath(stem + ".json");
            AtomicFile.WriteAllText(summaryPath, summaryJson);

            if (json)
            {
                output.WriteLine(summaryJson);
            }
            else
            {
                output.WriteLine($"top {result.Examples.Count} of {result.Total} images for {neuron} ({entry.Name}; {result.Skipped.Count} skipped{(result.ResumedFrom > 0 ? $", resumed after {result.ResumedFrom}" : string.Empty)}):");
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
