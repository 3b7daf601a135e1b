using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>The measured parts of a unit: tuning curves over the model's stimuli, and dataset examples from a folder of images.</summary>
internal sealed class AtlasMeasures
{
    private readonly AtlasWorker _w;
    private readonly Dictionary<string, int> _receptiveFields = new(StringComparer.Ordinal);

    public AtlasMeasures(AtlasWorker worker) => _w = worker;

    /// <summary>Tuning curves measured in this run.</summary>
    public int Curves { get; private set; }

    /// <summary>Dataset-example searches run in this run.</summary>
    public int Searches { get; private set; }

    /// <summary>The identity of a tuning sweep: the read-out layer, the description, the parameter and every stimulus, by value.</summary>
    public static string SweepId(AtlasTuning tuning)
    {
        StimulusSweep sweep = tuning.Sweep;
        IEnumerable<string> stimuli = sweep.Values.Select(v =>
        {
            StimulusOptions stimulus = sweep.Stimulus(v);
            return v.ToString("R", CultureInfo.InvariantCulture) + "=" + JsonSerializer.Serialize(stimulus, stimulus.GetType());
        });
        return AtlasFiles.Hash(new[] { tuning.Layer, tuning.ReadAt, tuning.Description, sweep.Parameter, sweep.Unit }.Concat(stimuli));
    }

    /// <summary>The identity of an image folder: every image file's relative path, size and time stamp.</summary>
    public static string FolderId(string folder)
    {
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"The image folder '{folder}' does not exist; expected a folder of .png or .jpg images for the dataset examples.");
        }

        var extensions = new HashSet<string>(new DatasetExamplesOptions().Extensions, StringComparer.OrdinalIgnoreCase);
        return AtlasFiles.Hash(new[] { root }.Concat(Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => extensions.Contains(Path.GetExtension(f)))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f =>
            {
                var info = new FileInfo(f);
                return string.Create(CultureInfo.InvariantCulture, $"{Path.GetRelativePath(root, f)}:{info.Length}:{info.LastWriteTimeUtc.Ticks}");
            })));
    }

    /// <summary>The site paths of the tuning parts of the batch's units (one list per unit), measuring those missing.</summary>
    public IReadOnlyList<List<string>> Tuning(IReadOnlyList<NeuronAddress> units)
    {
        var result = units.Select(_ => new List<string>()).ToList();
        foreach (AtlasTuning tuning in _w.Model.Tuning.Where(t => t.Layer == units[0].Layer))
        {
            string id = SweepId(tuning);
            var paths = units.Select(u => $"{AtlasFiles.PartFolder(u)}/tuning-{AtlasFiles.Hash(AtlasFiles.RecipeVersion, "tuning", AtlasFiles.CodeVersion, _w.Model.ModelId, id, u.ToString())}.json").ToList();
            var missing = Enumerable.Range(0, units.Count).Where(i => !AtlasFiles.Exists(_w.Folder, paths[i])).ToList();
            if (missing.Count > 0)
            {
                _w.Report($"tuning curves of {units[0].Layer} ({tuning.Sweep.Parameter}, read at {tuning.ReadAt})");
                IReadOnlyList<TuningCurve> curves = TuningCurves.MeasureMany(_w.Model.Model, missing.Select(i => new NeuronAddress(tuning.ReadAt, units[i].Channel)), tuning.Sweep,
                    new TuningOptions { Preprocess = _w.Model.Preprocess, Device = _w.Options.Device }, cancellationToken: _w.Cancellation);
                for (int k = 0; k < missing.Count; k++)
                {
                    TuningCurve c = curves[k];
                    AtlasFiles.WriteJson(_w.Folder, paths[missing[k]], new TuningPart
                    {
                        Neuron = c.Neuron.ToString(), Readout = c.Readout.ToString(), Parameter = c.Parameter, ParameterUnit = c.ParameterUnit,
                        Values = c.Values.ToList(), Responses = c.Responses.ToList(), Description = tuning.Description,
                    });
                }

                Curves += missing.Count;
            }

            for (int i = 0; i < units.Count; i++)
            {
                result[i].Add(paths[i]);
            }
        }

        return result;
    }

    /// <summary>The site path of the unit's dataset-examples part, searching the folder when it is missing; null without a folder.</summary>
    public string? Examples(NeuronAddress unit, string? folderId)
    {
        string? folder = _w.Options.ImageFolder;
        if (folder is null || folderId is null)
        {
            return null;
        }

        int inputSize = _w.Model.InputSize;
        string key = AtlasFiles.Hash(AtlasFiles.RecipeVersion, "examples", AtlasFiles.CodeVersion, _w.Model.ModelId, folderId, unit.ToString(),
            _w.Options.ExampleCount.ToString(CultureInfo.InvariantCulture), inputSize.ToString(CultureInfo.InvariantCulture));
        string stem = $"{AtlasFiles.PartFolder(unit)}/examples-{key}";
        if (AtlasFiles.Exists(_w.Folder, stem + ".json"))
        {
            return stem + ".json";
        }

        if (!_receptiveFields.TryGetValue(unit.Layer, out int crop))
        {
            crop = DatasetExamples.MeasureReceptiveField(_w.Model.Model, unit.Layer, inputSize, _w.Model.Preprocess, _w.Options.Device);
            _receptiveFields[unit.Layer] = crop;
        }

        _w.Report($"dataset examples of {unit}");
        using DatasetExamplesResult found = DatasetExamples.Find(_w.Model.Model, unit, folder, new DatasetExamplesOptions
        {
            TopK = _w.Options.ExampleCount,
            InputSize = inputSize,
            CropSize = crop > 0 ? Math.Min(crop, inputSize) : null,
            Preprocess = _w.Model.Preprocess,
            Device = _w.Options.Device,
        }, cancellationToken: _w.Cancellation);
        UnitExamples examples = new UnitReport(unit).AddDatasetExamples(found, folder).Examples!;
        var items = new List<ExampleItem>();
        foreach (UnitExample x in examples.Items)
        {
            string image = string.Create(CultureInfo.InvariantCulture, $"{stem}-{x.Rank}.png");
            AtlasFiles.WritePng(_w.Folder, image, x.Crop.Png);
            items.Add(new ExampleItem
            {
                Rank = x.Rank, Path = x.Example.Path, FileLabel = x.FileLabel, Activation = x.Example.Activation, Y = x.Example.Y, X = x.Example.X,
                Top = x.Example.Top, Left = x.Example.Left, Size = x.Example.Size,
                Image = new ImageRef { Path = image, Width = x.Crop.Width, Height = x.Crop.Height, Caption = x.Crop.Caption },
            });
        }

        AtlasFiles.WriteJson(_w.Folder, stem + ".json", new ExamplesPart { Folder = examples.Folder, ImagesSearched = examples.ImagesSearched, Skipped = examples.Skipped, Items = items });
        Searches++;
        return stem + ".json";
    }

    /// <summary>Reads a tuning part back as the curve it was.</summary>
    public static UnitTuning ReadTuning(TuningPart part)
    {
        var readout = Enum.TryParse(part.Readout, out TuningReadout r) ? r : TuningReadout.Position;
        var curve = new TuningCurve(NeuronAddress.Parse(part.Neuron), readout, part.Parameter, part.Values, part.Responses, part.ParameterUnit);
        return new UnitTuning(curve, part.Description);
    }
}
