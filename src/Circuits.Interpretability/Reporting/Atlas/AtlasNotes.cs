using System.Globalization;
using System.Text;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// The families and notes of an atlas's units: a plain text file that people edit by hand or with
/// <c>circuits atlas annotate</c>, keep in git, and merge.
/// </summary>
/// <remarks>
/// <para><b>Format</b> (UTF-8): lines starting with <c>#</c> are comments (the file starts with a fixed header) and
/// blank lines are ignored. Every other line is one unit: four fields separated by one tab,
/// <c>layer:channel</c>, family, note, revision. In the family and the note, <c>\t</c> stands for a tab, <c>\n</c>
/// for a line break, <c>\r</c> for a carriage return and <c>\\</c> for a backslash; any other backslash sequence is
/// an error. The revision is a whole number that grows by one with every change of the line; a hand-written line
/// may leave it out (revision 0). A cleared unit keeps its line with an empty family and note. Lines are written
/// sorted by layer (ordinal) then channel, one per unit, so that people who annotate different units change
/// different lines.</para>
/// <para><b>Merging.</b> Git merges changes of lines that are not next to each other, but two people annotating
/// neighbouring units (<c>curves:3</c> and <c>curves:4</c>), or adding units at the same place, get a conflict.
/// <see cref="EnsureUnionMerge"/> marks the file for git's built-in union merge in <c>.gitattributes</c>: git then
/// keeps both sides' lines, and the reader takes, for each unit, the line with the highest revision (the other is
/// the older version of the same line). Two different lines with the same highest revision mean two people changed
/// the same unit at once: reading fails with an <see cref="AtlasException"/> naming the unit and both lines.</para>
/// </remarks>
public sealed class AtlasNotes
{
    /// <summary>The file name the command-line tool reads and writes by default.</summary>
    public const string DefaultFileName = "atlas-notes.tsv";

    /// <summary>The header every written file starts with (it never changes, so it never conflicts).</summary>
    public const string Header =
        "# circuits atlas notes, format 1: one unit per line, sorted by layer, then channel.\n"
        + "# Fields, separated by one tab: layer:channel, family, note, revision.\n"
        + "# In a field, \\t is a tab, \\n a line break, \\r a carriage return and \\\\ a backslash.\n"
        + "# The revision grows by one with every change of a line; when a merge keeps two versions of a line\n"
        + "# (git's union merge, set in .gitattributes), the higher revision wins.\n"
        + "# Edit by hand or with: circuits atlas annotate LAYER:CHANNEL --family NAME --note TEXT\n";

    private readonly SortedDictionary<NeuronAddress, AtlasNote> _notes = new(UnitOrder.Instance);

    /// <summary>Notes with nothing in them.</summary>
    public AtlasNotes()
    {
    }

    /// <summary>Every unit that has a family or a note, sorted by layer (ordinal) then channel.</summary>
    public IReadOnlyList<AtlasNote> Entries => _notes.Values.Where(n => !n.IsEmpty).ToList();

    /// <summary>Reads the notes file at <paramref name="path"/>; a missing file gives empty notes.</summary>
    /// <exception cref="AtlasException">A line is not valid, or a unit has two versions of the same revision.</exception>
    public static AtlasNotes Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return File.Exists(path) ? Parse(File.ReadAllText(path, Encoding.UTF8), path) : new AtlasNotes();
    }

    /// <summary>Reads notes from <paramref name="text"/> (see the remarks for the format).</summary>
    /// <param name="text">The file's content.</param>
    /// <param name="source">The file's name, for error messages.</param>
    /// <exception cref="AtlasException">A line is not valid, or a unit has two versions of the same revision; the message names the line.</exception>
    public static AtlasNotes Parse(string text, string source = "notes")
    {
        ArgumentNullException.ThrowIfNull(text);
        var notes = new AtlasNotes();
        var lineOf = new Dictionary<NeuronAddress, int>();
        string[] lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 || line.StartsWith('#') || line.Trim().Length == 0)
            {
                continue;
            }

            AtlasNote note = ParseLine(line, source, i + 1);
            if (notes._notes.TryGetValue(note.Unit, out AtlasNote? other))
            {
                if (note.Revision == other.Revision && (note.Family != other.Family || note.Note != other.Note))
                {
                    throw new AtlasException(
                        $"{source}: {note.Unit} has two different lines with revision {note.Revision} (lines {lineOf[note.Unit]} and {i + 1}): two people changed it at once. "
                        + $"Keep the line you want, delete the other and raise the revision to {note.Revision + 1} (or run 'circuits atlas annotate {note.Unit}' with the family and note you want).");
                }

                if (note.Revision <= other.Revision)
                {
                    continue; // an older version of the line, kept by a union merge
                }
            }

            notes._notes[note.Unit] = note;
            lineOf[note.Unit] = i + 1;
        }

        return notes;
    }

    /// <summary>The note of <paramref name="unit"/>, or null when it has none (or was cleared).</summary>
    public AtlasNote? Get(NeuronAddress unit) => _notes.TryGetValue(Key(unit), out AtlasNote? note) && !note.IsEmpty ? note : null;

    /// <summary>
    /// Sets the family and/or the note of <paramref name="unit"/> and raises its revision; null leaves that field as it
    /// is, empty text clears it.
    /// </summary>
    /// <returns>The unit's line as it is now.</returns>
    /// <exception cref="InvalidAddressException">The address has no channel, or has a position.</exception>
    public AtlasNote Annotate(NeuronAddress unit, string? family, string? note)
    {
        NeuronAddress key = Key(unit);
        _notes.TryGetValue(key, out AtlasNote? old);
        var updated = new AtlasNote(key, Clean(family ?? old?.Family ?? string.Empty), Clean(note ?? old?.Note ?? string.Empty), (old?.Revision ?? 0) + 1);
        if (old is not null && old.Family == updated.Family && old.Note == updated.Note)
        {
            return old; // nothing changed: the line stays as it is
        }

        _notes[key] = updated;
        return updated;
    }

    /// <summary>Clears the family and the note of <paramref name="unit"/> (its line stays, empty, with a higher revision).</summary>
    public AtlasNote Clear(NeuronAddress unit) => Annotate(unit, string.Empty, string.Empty);

    /// <summary>The file's text: the header, then one line per unit, sorted.</summary>
    public string ToText()
    {
        var text = new StringBuilder(Header);
        foreach (AtlasNote n in _notes.Values)
        {
            text.Append(n.Unit.ToString()).Append('\t').Append(Escape(n.Family)).Append('\t').Append(Escape(n.Note)).Append('\t')
                .Append(n.Revision.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Writes the file (atomically: a reader sees the old or the new file, never half of one), creating its folder.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.WriteAllText(full, ToText());
    }

    /// <summary>
    /// Makes sure the <c>.gitattributes</c> file beside <paramref name="notesPath"/> asks git for the union merge of
    /// the notes file (<c>NAME merge=union</c>), adding the line when it is missing (see the remarks).
    /// </summary>
    /// <returns>True when the line was added.</returns>
    public static bool EnsureUnionMerge(string notesPath)
    {
        ArgumentNullException.ThrowIfNull(notesPath);
        string full = Path.GetFullPath(notesPath);
        string folder = Path.GetDirectoryName(full)!;
        string attributes = Path.Combine(folder, ".gitattributes");
        string name = Path.GetFileName(full);
        string wanted = $"{name} merge=union";
        string existing = File.Exists(attributes) ? File.ReadAllText(attributes) : string.Empty;
        if (existing.Split('\n').Any(l => l.Trim() == wanted))
        {
            return false;
        }

        Directory.CreateDirectory(folder);
        string separator = existing.Length == 0 || existing.EndsWith('\n') ? string.Empty : "\n";
        AtomicFile.WriteAllText(attributes, existing + separator + $"# The atlas's notes: git keeps both sides' lines, the higher revision wins (see docs/atlas.md).\n{wanted}\n");
        return true;
    }

    /// <summary>Escapes a field: backslash, tab, line feed and carriage return.</summary>
    internal static string Escape(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);

    private static AtlasNote ParseLine(string line, string source, int number)
    {
        string[] fields = line.Split('\t');
        if (fields.Length is not (3 or 4))
        {
            throw new AtlasException($"{source}, line {number}: expected 'layer:channel<TAB>family<TAB>note<TAB>revision' (4 fields separated by tabs, the revision optional); found {fields.Length} field(s) in '{Shorten(line)}'.");
        }

        if (!NeuronAddress.TryParse(fields[0].Trim(), out NeuronAddress unit) || unit.Channel is null || unit.HasPosition)
        {
            throw new AtlasException($"{source}, line {number}: '{fields[0]}' is not a unit; expected layer:channel, for example curves:3.");
        }

        int revision = 0;
        if (fields.Length == 4 && fields[3].Trim().Length > 0 && !int.TryParse(fields[3].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out revision))
        {
            throw new AtlasException($"{source}, line {number}: the revision '{fields[3]}' of {unit} is not a whole number of 0 or more.");
        }

        return new AtlasNote(unit, Unescape(fields[1], source, number), Unescape(fields[2], source, number), revision);
    }

    private static string Unescape(string field, string source, int number)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field.Trim();
        }

        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] != '\\')
            {
                text.Append(field[i]);
                continue;
            }

            char next = i + 1 < field.Length ? field[++i] : '\0';
            text.Append(next switch
            {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                _ => throw new AtlasException($"{source}, line {number}: unknown escape '\\{(next == '\0' ? string.Empty : next.ToString())}' in '{Shorten(field)}'; write \\\\ for a backslash, \\t for a tab, \\n for a line break."),
            });
        }

        return text.ToString().Trim();
    }

    private static string Clean(string text) => text.Trim();

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";

    private static NeuronAddress Key(NeuronAddress unit)
    {
        if (unit.Channel is null || unit.HasPosition)
        {
            throw new InvalidAddressException($"Notes belong to a unit, layer:channel; '{unit}' is not one (expected for example curves:3).");
        }

        return new NeuronAddress(unit.Layer, unit.Channel);
    }

    /// <summary>Layer (ordinal), then channel.</summary>
    private sealed class UnitOrder : IComparer<NeuronAddress>
    {
        public static readonly UnitOrder Instance = new();

        public int Compare(NeuronAddress a, NeuronAddress b)
        {
            int layer = string.CompareOrdinal(a.Layer, b.Layer);
            return layer != 0 ? layer : Nullable.Compare(a.Channel, b.Channel);
        }
    }
}
