using System.Reflection;

namespace Circuits.Interpretability.Tests.Samples;

[CollectionDefinition(nameof(ConsoleCollection), DisableParallelization = true)]
public sealed class ConsoleCollection
{
}

/// <summary>The README's first command, run in-process with small settings: it must produce the report and get the known answers.</summary>
[Collection(nameof(ConsoleCollection))]
public sealed class QuickStartTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        MethodInfo main = Assembly.Load("QuickStart").EntryPoint!;
        TextWriter stdout = Console.Out;
        TextWriter stderr = Console.Error;
        var output = new StringWriter();
        var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            object? result = main.Invoke(null, new object[] { args });
            return ((int)result!, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    [Fact]
    public void The_quick_start_writes_a_self_contained_report_with_the_designed_answers()
    {
        string cache = Path.Combine(_folder, "empty-cache");
        string? previous = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
        Environment.SetEnvironmentVariable("CIRCUITS_CACHE", cache);
        try
        {
            var (code, output, error) = Run("--units", "0,8", "--steps", "24", "--size", "32", "--out", _folder);

            code.Should().Be(0, error);
            string report = Path.Combine(_folder, "quickstart-report.html");
            output.Should().Contain($"Report: {report}");
            output.Should().Contain("curves:0   designed    0.0°  tuning peak    0.0°").And.Contain("curves:8   designed  180.0°  tuning peak  180.0°");
            output.Should().Contain("InceptionV1's weights were not found").And.Contain(cache);

            string html = File.ReadAllText(report);
            html.Should().Contain("curves:8").And.Contain("equal the designed curve weights to 0.0E+000");
            html.Should().NotContain("src=\"http").And.NotContain("src=\"/", "the report is self-contained");
            System.Text.RegularExpressions.Regex.Matches(html, "data:image/png;base64,").Count.Should().BeGreaterThan(2 * 6);
            Directory.EnumerateFiles(_folder, "*.tmp").Should().BeEmpty();
        }
        finally
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", previous);
        }
    }

    [Fact]
    public void Bad_arguments_are_usage_errors_and_a_bad_unit_is_a_clear_failure()
    {
        Run("--steps", "many").Should().Match<(int Code, string Out, string Err)>(r => r.Code == 2 && r.Err.Contains("--steps 'many' is not valid"));
        Run("--bogus").Code.Should().Be(2);
        var badUnit = Run("--units", "99", "--out", _folder);
        badUnit.Code.Should().Be(1);
        badUnit.Err.Should().Contain("Curve unit 99 does not exist; the curve circuit has units 0 to 15.");
    }
}
