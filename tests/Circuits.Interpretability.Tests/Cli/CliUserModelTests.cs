using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>
/// Every verb on a model the tool has never seen: a class compiled here into its own assembly, named with
/// --model-assembly and --model, its weights in a safetensors file the library wrote.
/// </summary>
public sealed class CliUserModelTests : IClassFixture<CliUserModelTests.CompiledModel>, IDisposable
{
    private const string Source = """
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        namespace My.Models;

        /// <summary>Edges (3x3) then blobs (5x5); every stage is a registered child invoked with call().</summary>
        public sealed class TinyNet : nn.Module<Tensor, Tensor>
        {
            private readonly Conv2d edges;
            private readonly ReLU edges_relu;
            private readonly Conv2d blobs;
            private readonly ReLU blobs_relu;

            public TinyNet() : base("TinyNet")
            {
                edges = nn.Conv2d(3, 4, 3, padding: 1);
                edges_relu = nn.ReLU();
                blobs = nn.Conv2d(4, 6, 5, padding: 2);
                blobs_relu = nn.ReLU();
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => blobs_relu.call(blobs.call(edges_relu.call(edges.call(input))));
        }

        /// <summary>A second model, so that the assembly needs --model.</summary>
        public sealed class OtherNet : nn.Module<Tensor, Tensor>
        {
            private readonly Conv2d conv;

            public OtherNet() : base("OtherNet")
            {
                conv = nn.Conv2d(3, 2, 3, padding: 1);
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => conv.call(input);
        }

        /// <summary>Not a model: the tool must not offer it.</summary>
        public sealed class Helper
        {
        }
        """;

    private readonly CompiledModel _compiled;
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-user-").FullName;

    public CliUserModelTests(CompiledModel compiled) => _compiled = compiled;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string[] Model(params string[] args) =>
        new[] { "--model-assembly", _compiled.AssemblyPath, "--model", "My.Models.TinyNet", "--weights", _compiled.WeightsPath, "--input-size", "32" }.Concat(args).ToArray();

    [Fact]
    public async Task Layers_and_circuit_read_the_users_model_and_weights()
    {
        var layers = await CliTests.Run(Model("layers", "--json"));
        layers.Code.Should().Be(ExitCodes.Success, layers.Err);
        using (var json = JsonDocument.Parse(layers.Out))
        {
            json.RootElement.GetProperty("model").GetString().Should().Be("My.Models.TinyNet");
            json.RootElement.GetProperty("modelId").GetString().Should().StartWith("My.Models.TinyNet/sha256=");
            json.RootElement.GetProperty("randomWeights").GetBoolean().Should().BeFalse();
            json.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("path").GetString()).Should().Equal("edges", "edges_relu", "blobs", "blobs_relu");
        }

        var defaultSize = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--model", "TinyNet", "--weights", _compiled.WeightsPath, "layers");
        defaultSize.Out.Should().Contain("input 1 x 3 x 224 x 224", "a user's model defaults to 224 pixels");

        // The expanded weights across one conv are that conv's kernels: the ones in the weights file, not the constructor's.
        var circuit = await CliTests.Run(Model("circuit", "--unit", "blobs:2", "--from", "edges_relu", "--top", "4", "--json"));
        circuit.Code.Should().Be(ExitCodes.Success, circuit.Err);
        using var result = JsonDocument.Parse(circuit.Out);
        result.RootElement.GetProperty("cropSize").GetInt32().Should().Be(5);
        foreach (JsonElement input in result.RootElement.GetProperty("inputs").EnumerateArray())
        {
            int source = int.Parse(input.GetProperty("unit").GetString()!.Split(':')[1]);
            float[] map = input.GetProperty("weights").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
            map.Zip(_compiled.Blobs[2][source], (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f);
        }
    }

    [Fact]
    public async Task Render_tuning_examples_and_report_serve_the_users_model()
    {
        var render = await CliTests.Run(Model("render", "--layers", "blobs", "--channels", "0-1", "--steps", "3", "--size", "16", "--out", Path.Combine(_folder, "catalog"), "--json"));
        render.Code.Should().Be(ExitCodes.Success, render.Err);
        foreach (JsonElement file in JsonDocument.Parse(render.Out).RootElement.GetProperty("files").EnumerateArray())
        {
            File.Exists(file.GetProperty("image").GetString()).Should().BeTrue();
        }

        var tuning = await CliTests.Run(Model("tuning", "--unit", "blobs_relu:1", "--step", "30", "--json"));
        tuning.Code.Should().Be(ExitCodes.Success, tuning.Err);
        JsonDocument.Parse(tuning.Out).RootElement.GetProperty("values").GetArrayLength().Should().Be(12);

        string images = Path.Combine(_folder, "images");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 3; i++)
        {
            using Tensor image = torch.rand(3, 32, 32, generator: new torch.Generator((ulong)i));
            ImageIO.SavePng(image, Path.Combine(images, $"img{i}.png"));
        }

        var examples = await CliTests.Run(Model("examples", "--unit", "blobs:0", "--images", images, "--top", "2", "--out", Path.Combine(_folder, "ex"), "--json"));
        examples.Code.Should().Be(ExitCodes.Success, examples.Err);
        JsonDocument.Parse(examples.Out).RootElement.GetProperty("examples").GetArrayLength().Should().Be(2);

        var report = await CliTests.Run(Model("report", "--units", "blobs:0,1", "--from", "edges_relu", "--steps", "3", "--size", "16", "--top", "2", "--out", Path.Combine(_folder, "report"), "--json"));
        report.Code.Should().Be(ExitCodes.Success, report.Err);
        File.Exists(JsonDocument.Parse(report.Out).RootElement.GetProperty("report").GetString()).Should().BeTrue();

        var noUnits = await CliTests.Run(Model("report", "--steps", "3"));
        noUnits.Code.Should().Be(ExitCodes.Usage);
        noUnits.Err.Should().Contain("Model 'My.Models.TinyNet' has no default units; name them with --units");
    }

    [Fact]
    public async Task A_users_model_that_cannot_be_found_or_loaded_says_why()
    {
        var two = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--weights", _compiled.WeightsPath, "layers");
        two.Code.Should().Be(ExitCodes.Usage);
        two.Err.Should().Contain("needs --model TYPE").And.Contain("My.Models.OtherNet, My.Models.TinyNet").And.NotContain("Helper");

        var unknown = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--model", "Helper", "layers");
        unknown.Code.Should().Be(ExitCodes.Usage);
        unknown.Err.Should().Contain("--model 'Helper' is not a model the tool can build");

        var noWeights = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--model", "My.Models.TinyNet", "layers");
        noWeights.Code.Should().Be(ExitCodes.Usage);
        noWeights.Err.Should().Contain("needs its weights: --weights FILE (.pth or .safetensors), or --random-weights");

        var random = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--model", "My.Models.TinyNet", "--random-weights", "--input-size", "16", "layers", "--json");
        random.Code.Should().Be(ExitCodes.Success, random.Err);
        JsonDocument.Parse(random.Out).RootElement.GetProperty("randomWeights").GetBoolean().Should().BeTrue();
        random.Err.Should().Contain("warning: 'My.Models.TinyNet' runs with RANDOM weights as its constructor made them");

        string wrong = Path.Combine(_folder, "wrong.safetensors");
        using (var other = new SmallConvNet())
        {
            SafeTensors.Save(wrong, StateDict.FromModule(other));
        }

        var mismatch = await CliTests.Run("--model-assembly", _compiled.AssemblyPath, "--model", "My.Models.TinyNet", "--weights", wrong, "layers");
        mismatch.Code.Should().Be(ExitCodes.Failure);
        mismatch.Err.Should().Contain("edges.weight");

        var missing = await CliTests.Run("--model-assembly", Path.Combine(_folder, "nope.dll"), "layers");
        missing.Code.Should().Be(ExitCodes.Failure);
        missing.Err.Should().Contain("nope.dll' does not exist");

        string notAssembly = Path.Combine(_folder, "text.dll");
        File.WriteAllText(notAssembly, "not an assembly");
        var bad = await CliTests.Run("--model-assembly", notAssembly, "layers");
        bad.Code.Should().Be(ExitCodes.Failure);
        bad.Err.Should().Contain("is not a .NET assembly");
    }

    /// <summary>The model assembly, compiled once for the class, and a weights file with known kernels.</summary>
    public sealed class CompiledModel : IDisposable
    {
        public CompiledModel()
        {
            Folder = Directory.CreateTempSubdirectory("circuits-user-model-").FullName;
            AssemblyPath = Path.Combine(Folder, $"My.Models.{Guid.NewGuid():N}.dll");
            var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
                .Split(Path.PathSeparator)
                .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
                .Select(p => MetadataReference.CreateFromFile(p));
            var compilation = CSharpCompilation.Create(
                Path.GetFileNameWithoutExtension(AssemblyPath),
                new[] { CSharpSyntaxTree.ParseText(Source) },
                references,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release));
            var emitted = compilation.Emit(AssemblyPath);
            emitted.Success.Should().BeTrue(string.Join("\n", emitted.Diagnostics));

            // Weights unlike the constructor's: a seeded draw, saved as a user would with the library.
            Assembly assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(AssemblyPath);
            using var model = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(assembly.GetType("My.Models.TinyNet")!)!;
            var generator = new torch.Generator(11);
            using (torch.no_grad())
            {
                foreach (var (_, parameter) in model.named_parameters())
                {
                    parameter.copy_(torch.randn(parameter.shape, generator: generator));
                }
            }

            var dict = StateDict.FromModule(model);
            float[] blobs = dict["blobs.weight"].ToTensor().contiguous().data<float>().ToArray();
            Blobs = Enumerable.Range(0, 6).Select(t => Enumerable.Range(0, 4).Select(s => blobs.Skip(((t * 4) + s) * 25).Take(25).ToArray()).ToArray()).ToArray();
            WeightsPath = Path.Combine(Folder, "tiny.safetensors");
            SafeTensors.Save(WeightsPath, dict);
        }

        public string Folder { get; }

        public string AssemblyPath { get; }

        public string WeightsPath { get; }

        /// <summary>blobs.weight as [target][source][25].</summary>
        public float[][][] Blobs { get; }

        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }
}
