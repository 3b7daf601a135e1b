using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Docs;

/// <summary>Statements of docs/feature-visualization.md that the code decides, checked against the code.</summary>
public class FeatureVisualizationDocsTests
{
    private static readonly string Page = File.ReadAllText(Path.Combine(Notebooks.NotebookTests.RepositoryRoot(), "docs", "feature-visualization.md"));

    [Fact]
    public void The_objective_table_shows_the_names_the_objectives_print()
    {
        using var scope = NewDisposeScope();
        Tensor v = tensor(new float[] { 1, 0 });
        var documented = new[]
        {
            Objectives.Channel("mixed4a:10").Name,
            Objectives.Neuron("mixed4a:10").Name,
            Objectives.Neuron("mixed4a:10@3,4").Name,
            Objectives.Direction("layer", v).Name,
            Objectives.DirectionNeuron("layer", v).Name,
            Objectives.Layer("layer").Name,
            Objectives.ClassLogit(7).Name.Replace("7", "k", StringComparison.Ordinal),
            Objectives.Diversity("layer").Name,
            Objectives.Alignment("layer").Name,
            Objectives.L1().Name,
            (Objectives.Channel("features.conv3:5") - 0.5 * Objectives.TotalVariation()).Name,
        };

        documented.Should().OnlyContain(name => Page.Contains($"`{name}`", StringComparison.Ordinal) || Page.Contains($"// {name}", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void Jitter_shrinks_the_image_by_d_as_documented(int d)
    {
        using var scope = NewDisposeScope();
        Tensor image = rand(1, 3, 32, 32);
        Tensor jittered = Transforms.Jitter(d).Apply(image, new Random(1));
        jittered.shape.Should().Equal(1, 3, 32 - d, 32 - d);
        Page.Should().Contain("shrinks by d pixels per side length");
    }
}
