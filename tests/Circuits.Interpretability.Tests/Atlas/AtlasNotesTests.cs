using System.Diagnostics;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Tests.Atlas;

public sealed class AtlasNotesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-notes-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Lines_are_sorted_by_layer_then_channel_and_read_back_with_escapes()
    {
        var notes = new AtlasNotes();
        notes.Annotate("curves:10", "curve detectors", "peaks at 225°");
        notes.Annotate("curves:2", "curve detectors", "tab\there, line\nbreak, back\\slash");
        notes.Annotate("lines:0", "line detectors", null);

        string text = notes.ToText();

        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToArray();
        lines.Should().Equal(
            "curves:2\tcurve detectors\ttab\\there, line\\nbreak, back\\\\slash\t1",
            "curves:10\tcurve detectors\tpeaks at 225°\t1",
            "lines:0\tline detectors\t\t1");
        text.Should().StartWith(AtlasNotes.Header);
        AtlasNotes back = AtlasNotes.Parse(text);
        back.Get("curves:2")!.Note.Should().Be("tab\there, line\nbreak, back\\slash");
        back.Entries.Select(e => e.Unit.ToString()).Should().Equal("curves:2", "curves:10", "lines:0");
        back.ToText().Should().Be(text, "reading and writing changes nothing");
    }

    [Fact]
    public void Annotating_raises_the_revision_only_when_something_changes_and_clearing_keeps_the_line()
    {
        var notes = new AtlasNotes();
        notes.Annotate("curves:3", "curve detectors", null).Revision.Should().Be(1);
        notes.Annotate("curves:3", null, "a note").Should().Be(new AtlasNote("curves:3", "curve detectors", "a note", 2));
        notes.Annotate("curves:3", "curve detectors", "a note").Revision.Should().Be(2, "nothing changed");
        notes.Clear("curves:3").Revision.Should().Be(3);

        notes.Get("curves:3").Should().BeNull();
        notes.Entries.Should().BeEmpty();
        notes.ToText().Should().Contain("curves:3\t\t\t3", "a cleared unit keeps its line, so a merge cannot bring the old text back");
        FluentActions.Invoking(() => notes.Annotate("curves:3@1,2", "x", null)).Should().Throw<InvalidAddressException>().WithMessage("*layer:channel*curves:3@1,2*");
    }

    [Fact]
    public void Hand_written_lines_without_a_revision_are_revision_0_and_bad_lines_name_file_and_line()
    {
        AtlasNotes.Parse("# mine\n\ncurves:1\tcurve detectors\tby hand\n").Get("curves:1").Should().Be(new AtlasNote("curves:1", "curve detectors", "by hand", 0));

        FluentActions.Invoking(() => AtlasNotes.Parse("curves:1\tonly two\n", "notes.tsv")).Should().Throw<AtlasException>().WithMessage("notes.tsv, line 1: expected*4 fields*found 2*");
        FluentActions.Invoking(() => AtlasNotes.Parse("#\ncurves\tx\ty\t1\n", "notes.tsv")).Should().Throw<AtlasException>().WithMessage("notes.tsv, line 2: 'curves' is not a unit*curves:3*");
        FluentActions.Invoking(() => AtlasNotes.Parse("curves:1\tx\ty\tone\n", "notes.tsv")).Should().Throw<AtlasException>().WithMessage("*revision 'one' of curves:1*");
        FluentActions.Invoking(() => AtlasNotes.Parse("curves:1\tx\tbad \\q escape\t1\n", "notes.tsv")).Should().Throw<AtlasException>().WithMessage("notes.tsv, line 1: unknown escape '\\q'*");
    }

    [Fact]
    public void Of_two_versions_of_a_line_the_higher_revision_wins_and_two_equal_revisions_are_a_conflict()
    {
        AtlasNotes.Parse("curves:1\tnew\t\t2\ncurves:1\told\t\t1\ncurves:2\tx\t\t4\ncurves:2\tx\t\t4\n").Entries.Should().Equal(
            new AtlasNote("curves:1", "new", string.Empty, 2), new AtlasNote("curves:2", "x", string.Empty, 4));

        FluentActions.Invoking(() => AtlasNotes.Parse("curves:1\told\t\t1\ncurves:1\tmine\t\t2\ncurves:1\tyours\t\t2\n", "notes.tsv"))
            .Should().Throw<AtlasException>().WithMessage("notes.tsv: curves:1 has two different lines with revision 2 (lines 2 and 3): two people changed it at once*revision to 3*");
    }

    [Fact]
    public void Union_merge_is_set_once_in_gitattributes_beside_the_notes()
    {
        string notes = Path.Combine(_folder, "atlas", "notes.tsv");
        File.WriteAllText(Path.Combine(_folder, "x"), string.Empty);
        Directory.CreateDirectory(Path.GetDirectoryName(notes)!);
        File.WriteAllText(Path.Combine(_folder, "atlas", ".gitattributes"), "*.png binary");

        AtlasNotes.EnsureUnionMerge(notes).Should().BeTrue();
        AtlasNotes.EnsureUnionMerge(notes).Should().BeFalse();

        File.ReadAllLines(Path.Combine(_folder, "atlas", ".gitattributes")).Where(l => !l.StartsWith('#')).Should().Equal("*.png binary", "notes.tsv merge=union");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Two_people_annotating_different_units_merge_in_git_without_conflicts()
    {
        // Alice adds curves:1 (a new line right after curves:0) and changes curves:8; Bob adds curves:2 at the same place,
        // changes curves:0 (the line just before Alice's new one) and adds lines:4. A plain line merge conflicts on these.
        var (code, output, file) = Merge(unionMerge: true,
            n =>
            {
                n.Annotate("curves:0", "curve detectors", "peaks at 0°");
                n.Annotate("curves:8", "curve detectors", null);
            },
            n =>
            {
                n.Annotate("curves:1", "curve detectors", "Alice: peaks at 22.5°");
                n.Annotate("curves:8", null, "Alice: opposite of curves:0");
            },
            n =>
            {
                n.Annotate("curves:2", "curve detectors", "Bob");
                n.Annotate("curves:0", null, "Bob: peaks at 0° (checked)");
                n.Annotate("lines:4", "line detectors", null);
            });

        code.Should().Be(0, output);
        output.Should().NotContain("CONFLICT");
        AtlasNotes merged = AtlasNotes.Load(file);
        merged.Entries.Select(e => $"{e.Unit}|{e.Family}|{e.Note}").Should().Equal(
            "curves:0|curve detectors|Bob: peaks at 0° (checked)",
            "curves:1|curve detectors|Alice: peaks at 22.5°",
            "curves:2|curve detectors|Bob",
            "curves:8|curve detectors|Alice: opposite of curves:0",
            "lines:4|line detectors|");
        merged.Save(file);
        File.ReadAllText(file).Should().Be(merged.ToText(), "the next write tidies the file: sorted, one line per unit");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Without_the_union_merge_neighbouring_units_conflict_in_git()
    {
        var (code, output, _) = Merge(unionMerge: false,
            n => n.Annotate("curves:0", "curve detectors", null),
            n => n.Annotate("curves:3", "curve detectors", "Alice"),
            n => n.Annotate("curves:4", "curve detectors", "Bob"));

        code.Should().NotBe(0);
        output.Should().Contain("CONFLICT", "git's line merge conflicts on changes next to each other: this is why the notes file asks for the union merge");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Two_people_changing_the_same_unit_is_reported_after_the_merge_naming_the_unit()
    {
        var (code, _, file) = Merge(unionMerge: true,
            n => n.Annotate("curves:5", "curve detectors", null),
            n => n.Annotate("curves:5", null, "Alice"),
            n => n.Annotate("curves:5", null, "Bob"));

        code.Should().Be(0);
        FluentActions.Invoking(() => AtlasNotes.Load(file)).Should().Throw<AtlasException>().WithMessage("*curves:5 has two different lines with revision 2*");
    }

    /// <summary>A repository whose main branch holds notes made by <paramref name="common"/>; Alice and Bob change them on two branches; Bob merges Alice's.</summary>
    private (int Code, string Output, string File) Merge(bool unionMerge, Action<AtlasNotes> common, Action<AtlasNotes> alice, Action<AtlasNotes> bob)
    {
        string repo = Path.Combine(_folder, "repo");
        Directory.CreateDirectory(repo);
        string file = Path.Combine(repo, AtlasNotes.DefaultFileName);
        Git(repo, "init", "-q", "-b", "main");
        Edit(file, common);
        if (unionMerge)
        {
            AtlasNotes.EnsureUnionMerge(file);
        }

        Git(repo, "add", "-A");
        Git(repo, "commit", "-q", "-m", "base");
        Git(repo, "checkout", "-q", "-b", "alice");
        Edit(file, alice);
        Git(repo, "commit", "-q", "-am", "alice");
        Git(repo, "checkout", "-q", "main");
        Edit(file, bob);
        Git(repo, "commit", "-q", "-am", "bob");
        var (code, output) = Git(repo, "merge", "--no-edit", "alice");
        return (code, output, file);
    }

    private static void Edit(string file, Action<AtlasNotes> change)
    {
        AtlasNotes notes = AtlasNotes.Load(file);
        change(notes);
        notes.Save(file);
    }

    private static (int Code, string Output) Git(string repo, params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = repo, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-c", "user.name=Atlas Test", "-c", "user.email=atlas@example.invalid", "-c", "commit.gpgsign=false" }.Concat(args))
        {
            start.ArgumentList.Add(a);
        }

        using Process git = Process.Start(start)!;
        Task<string> output = git.StandardOutput.ReadToEndAsync();
        Task<string> error = git.StandardError.ReadToEndAsync();
        git.WaitForExit();
        return (git.ExitCode, output.Result + error.Result);
    }
}
