using System.Reflection;
using System.Runtime.CompilerServices;
using Circuits.Interpretability.Core;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Circuits.Interpretability.Tests.Architecture;

/// <summary>
/// Reads the built library and fails when a namespace uses one above it (or a peer). The order is declared here,
/// once, and mirrored in docs/architecture.md.
/// </summary>
public class LayeringTests
{
    /// <summary>The library's layers, bottom row first. Keep docs/architecture.md's table in step.</summary>
    internal static readonly LayerOrder Library = new(
        "Circuits.Interpretability",
        new[]
        {
            new[] { "Core" },
            new[] { "IO", "Imaging", "Numerics" },
            new[] { "Hooks", "Models" },
            new[] { "Rendering", "Circuits", "Attribution" },
            new[] { "Activations", "Analysis.Stimuli" },
            new[] { "Analysis.Tuning", "Analysis.DatasetExamples", "Analysis.Equivariance" },
            new[] { "Reporting" },
        },
        // The models are sample targets: everything else is model-agnostic and works on any nn.Module.
        usedByNoOtherLayer: new[] { "Models" });

    private static string LibraryPath => typeof(CircuitsException).Assembly.Location;

    [Fact]
    public void No_namespace_of_the_library_uses_one_above_it_or_beside_it()
    {
        IReadOnlyList<TypeDependency> dependencies = TypeDependencies.Read(LibraryPath);

        dependencies.Should().NotBeEmpty();
        Library.Violations(dependencies).Should().BeEmpty("each layer may use only the rows below it (docs/architecture.md)");
    }

    [Fact]
    public void Every_type_of_the_library_is_in_a_declared_layer_and_every_layer_has_types()
    {
        var types = TypeDependencies.Types(LibraryPath);

        Library.Unassigned(types).Should().BeEmpty("a new namespace needs a row in LayeringTests.Library and docs/architecture.md");
        var used = types.Where(t => !t.CompilerGenerated).Select(t => Library.LayerOf(t.Namespace)).ToHashSet();
        Library.Layers.Where(l => !used.Contains(l)).Should().BeEmpty("a declared layer with no types is stale");
    }

    [Fact]
    public void The_layer_table_in_the_docs_matches_the_test()
    {
        string architecture = File.ReadAllText(Path.Combine(Notebooks.NotebookTests.RepositoryRoot(), "docs", "architecture.md"));
        for (int r = 0; r < Library.Rows.Count; r++)
        {
            string cells = string.Join(" · ", Library.Rows[r].Select(l => $"`{l}`"));
            architecture.Should().Contain($"| {r + 1} | {cells} |", $"docs/architecture.md's layer table should list row {r + 1} as in LayeringTests.Library");
        }
    }

    [Fact]
    public void Only_the_tests_and_the_benchmarks_see_the_library_internals()
    {
        typeof(CircuitsException).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>()
            .Select(a => a.AssemblyName)
            .Should().BeEquivalentTo("Circuits.Interpretability.Tests", "Circuits.Interpretability.Benchmarks");
    }

    [Fact]
    public void A_wrong_table_reports_the_real_uses_it_forbids()
    {
        // Core moved to the top: every use of Core by another layer becomes a use of a layer above.
        var wrong = new LayerOrder("Circuits.Interpretability", Library.Rows.Skip(1).Append(new[] { "Core" }).ToList());

        var violations = wrong.Violations(TypeDependencies.Read(LibraryPath));

        violations.Should().Contain(v => v.StartsWith("Circuits.Interpretability.Hooks.ModelLayers (Hooks, row 2) uses Circuits.Interpretability.Core.UnknownLayerException (Core, row 7), a layer above it", StringComparison.Ordinal));
        violations.Should().Contain(v => v.StartsWith("Circuits.Interpretability.IO.StateDict (IO, row 1) uses Circuits.Interpretability.Core.NameMatching (Core, row 7)", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_kind_of_use_is_found_in_a_compiled_assembly()
    {
        byte[] image = Compile("""
            using System;
            using System.Collections.Generic;
            namespace Syn.High
            {
                public class Base { }
                public interface IMarker { }
                public class Thing { public static int Count; public static void Touch() { } }
                public class Oops : Exception { }
                public class Tag : Attribute { }
                public class UsesLow { public Syn.Low.Clean? Below; }
                public class Peer { }
                public class PeerUser { public Peer? P; }
            }
            namespace Syn.Low
            {
                public class Clean { public int X; }
                public class ViaBase : Syn.High.Base { }
                public class ViaInterface : Syn.High.IMarker { }
                public class ViaField { private Syn.High.Thing? _t; public object? T => _t; }
                public class ViaSignature { public static void M(Syn.High.Thing? t) { } }
                public class ViaGeneric { public List<Syn.High.Thing> Items = new(); }
                public class ViaBody { public static void M() => Syn.High.Thing.Touch(); }
                public class ViaCatch { public static void M() { try { Console.WriteLine(); } catch (Syn.High.Oops) { } } }
                [Syn.High.Tag] public class ViaAttribute { }
                public class ViaClosure { public static Func<int> M(int x) => () => Syn.High.Thing.Count + x; }
                public class ViaIterator { public static IEnumerable<int> M() { yield return Syn.High.Thing.Count; } }
                public class ViaConstraint { public static void M<T>() where T : Syn.High.Base { } }
            }
            """);
        var order = new LayerOrder("Syn", new[] { new[] { "Low" }, new[] { "High" } });

        var dependencies = TypeDependencies.Read(image);
        var violations = order.Violations(dependencies);

        var offenders = violations.Select(v => v[..v.IndexOf(' ')]).ToHashSet();
        offenders.Should().BeEquivalentTo(
            "Syn.Low.ViaBase", "Syn.Low.ViaInterface", "Syn.Low.ViaField", "Syn.Low.ViaSignature", "Syn.Low.ViaGeneric",
            "Syn.Low.ViaBody", "Syn.Low.ViaCatch", "Syn.Low.ViaAttribute", "Syn.Low.ViaConstraint",
            "Syn.Low.ViaClosure+<>c__DisplayClass0_0", "Syn.Low.ViaIterator+<M>d__0");
        violations.Should().Contain("Syn.Low.ViaBase (Low, row 1) uses Syn.High.Base (High, row 2), a layer above it: base type; body of .ctor");
        violations.Should().Contain(v => v.StartsWith("Syn.Low.ViaCatch (Low, row 1) uses Syn.High.Oops (High, row 2), a layer above it: catch in M", StringComparison.Ordinal));
        violations.Should().Contain(v => v.StartsWith("Syn.Low.ViaClosure+<>c__DisplayClass0_0 (Low, row 1) uses Syn.High.Thing (High, row 2), a layer above it: body of <M>b__0", StringComparison.Ordinal));
        dependencies.Should().Contain(d => d.From == "Syn.High.UsesLow" && d.To == "Syn.Low.Clean", "uses of a lower layer are read too, and allowed");

        // Peers on one row may not use each other; a layer no other may use is refused even from above.
        var peers = new LayerOrder("Syn", new[] { new[] { "Low", "High" } });
        peers.Violations(dependencies).Should().Contain(v => v.StartsWith("Syn.High.UsesLow (High, row 1) uses Syn.Low.Clean (Low, row 1), a peer on its own row", StringComparison.Ordinal));
        var sealedLow = new LayerOrder("Syn", new[] { new[] { "Low" }, new[] { "High" } }, usedByNoOtherLayer: new[] { "Low" });
        sealedLow.Violations(dependencies).Should().Contain(v => v.StartsWith("Syn.High.UsesLow (High, row 2) uses Syn.Low.Clean (Low, row 1), a layer that no other layer may use", StringComparison.Ordinal));
        order.Violations(dependencies.Where(d => d.From == "Syn.High.PeerUser")).Should().BeEmpty("a layer may use itself");
    }

    [Fact]
    public void Types_outside_every_layer_are_named()
    {
        var order = new LayerOrder("Circuits.Interpretability", new[] { new[] { "Core" } });

        order.Unassigned(new[] { ("Circuits.Interpretability.Stray", "Circuits.Interpretability", false), ("Other.Type", "Other", false), ("<Module>", "", true) })
            .Should().Equal("Circuits.Interpretability.Stray (namespace 'Circuits.Interpretability')", "Other.Type (namespace 'Other')");
        order.LayerOf("Circuits.Interpretability.Core.Inner").Should().Be("Core");
        order.LayerOf("Circuits.Interpretability.CoreX").Should().Be("");
        order.LayerOf("System").Should().BeNull();
    }

    private static byte[] Compile(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Private.CoreLib.dll" or "System.Console.dll" or "System.Collections.dll" or "netstandard.dll")
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            "Syn",
            new[] { CSharpSyntaxTree.ParseText(source) },
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        result.Success.Should().BeTrue(string.Join("\n", result.Diagnostics));
        return stream.ToArray();
    }
}
