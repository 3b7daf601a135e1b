using System.Reflection;
using System.Text.RegularExpressions;
using Circuits.Interpretability.Cli;

namespace Circuits.Interpretability.Tests.Docs;

/// <summary>Statements of docs/getting-started.md about the command-line tool, checked against the tool.</summary>
public partial class CliDocsTests
{
    private static readonly string Page = File.ReadAllText(Path.Combine(Notebooks.NotebookTests.RepositoryRoot(), "docs", "getting-started.md"));

    [Fact]
    public void The_exit_code_table_lists_exactly_the_tools_exit_codes()
    {
        string table = Page[Page.IndexOf("### Exit codes", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("\n\n", table.IndexOf("| code |", StringComparison.Ordinal), StringComparison.Ordinal)];
        int[] documented = Row().Matches(table).Select(m => int.Parse(m.Groups[1].Value)).ToArray();
        int[] code = typeof(ExitCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (int)f.GetValue(null)!).Order().ToArray();

        documented.Should().Equal(code);
    }

    [Theory]
    [InlineData("render", "--steps", "100000", "100001")]
    [InlineData("render", "--size", "4096", "4097")]
    [InlineData("render", "--batch", "1024", "1025")]
    [InlineData("render", "--learning-rate", "10", "10.5")]
    [InlineData("circuit", "--crop", "255", "257")]
    public async Task The_documented_upper_bounds_are_the_tools(string verb, string option, string largest, string beyond)
    {
        Page.Should().Contain($"`{option}`");
        string[] rest = verb == "circuit" ? new[] { "--unit", "curves:4", "--from", "lines" } : new[] { "--plan" };
        var ok = await Cli.CliTests.Run(new[] { verb, option, largest }.Concat(rest).ToArray());
        ok.Code.Should().NotBe(ExitCodes.Usage, ok.Err);
        ok.Err.Should().NotContain("out of range");
        var bad = await Cli.CliTests.Run(new[] { verb, option, beyond }.Concat(rest).ToArray());
        bad.Code.Should().Be(ExitCodes.Usage);
        bad.Err.Should().Contain($"{option} {beyond} is out of range");
    }

    [GeneratedRegex(@"^\| (\d+) \|", RegexOptions.Multiline)]
    private static partial Regex Row();
}
