// Why this exists: TorchSharp 0.107.0's libLibTorchSharp.so was linked against GCC 13's libstdc++ and records a
// requirement on the symbol version GLIBCXX_3.4.32. Debian 12 and Ubuntu 22.04 ship an older libstdc++ (up to
// GLIBCXX_3.4.30), so the dynamic loader refuses the library. The only symbol bound to that version is
// std::ios_base_library_init(), which GCC 13's <iostream> references without any relocation, so the requirement can
// safely be marked weak (VER_FLG_WEAK) in the .gnu.version_r section of a copy of the library: glibc then accepts the
// missing version, and where the version exists the flag changes nothing.
using System.Text;

namespace Circuits.Interpretability.Build;

/// <summary>Reads ELF symbol-version tables and weakens one version requirement.</summary>
public static class ElfVersionPatcher
{
    /// <summary>The flag glibc honours to accept a missing version (VER_FLG_WEAK).</summary>
    public const ushort VerFlagWeak = 0x2;

    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;

    private sealed class Section
    {
        public uint Type;
        public long Offset;
        public long Size;
        public uint Link;
        public uint Info;
        public long EntrySize;
    }

    private sealed class MalformedElfException : Exception
    {
        public MalformedElfException(string message) : base(message) { }
    }

    /// <summary>
    /// Finds the requirement on <paramref name="versionName"/> from <paramref name="libraryName"/> in an
    /// ELF image and decides whether it can be weakened: every undefined dynamic symbol bound to it must
    /// be in <paramref name="allowedSymbols"/>. Never modifies <paramref name="image"/>.
    /// </summary>
    public static ElfPatchResult Analyze(byte[] image, string libraryName, string versionName, ICollection<string> allowedSymbols)
    {
        try
        {
            return AnalyzeCore(image, libraryName, versionName, allowedSymbols);
        }
        catch (MalformedElfException e)
        {
            return new ElfPatchResult(ElfPatchOutcome.Malformed, "malformed ELF file: " + e.Message);
        }
    }

    /// <summary>
    /// Weakens the requirement in the file at <paramref name="path"/> when <see cref="Analyze"/> allows it.
    /// The new content is written to a temporary file beside it and then renamed over it, so the file is
    /// never half-written, and a hard link to it (a package cache) is never modified. The file keeps its
    /// permissions and its last-write time, so incremental builds do not copy it again.
    /// </summary>
    public static ElfPatchResult PatchFile(string path, string libraryName, string versionName, ICollection<string> allowedSymbols)
    {
        byte[] image = File.ReadAllBytes(path);
        ElfPatchResult analysis = Analyze(image, libraryName, versionName, allowedSymbols);
        if (analysis.Outcome != ElfPatchOutcome.Patched)
        {
            return analysis;
        }

        ushort flags = (ushort)(image[analysis.FlagsOffset] | (image[analysis.FlagsOffset + 1] << 8));
        flags |= VerFlagWeak;
        DateTime lastWrite = File.GetLastWriteTimeUtc(path);
        string temp = path + ".circuits-patch.tmp";
        try
        {
            File.Copy(path, temp, true); // keeps the file mode
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
            {
                stream.Position = analysis.FlagsOffset;
                stream.WriteByte((byte)(flags & 0xff));
                stream.WriteByte((byte)(flags >> 8));
            }

            File.SetLastWriteTimeUtc(temp, lastWrite);
            File.Delete(path);
            File.Move(temp, path);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        return new ElfPatchResult(ElfPatchOutcome.Patched,
            $"marked the requirement on {versionName} ({libraryName}) weak in {path}; it binds only {string.Join(", ", analysis.Symbols)}",
            analysis.FlagsOffset, analysis.Symbols);
    }

    private static bool IsElf(byte[] image) =>
        image.Length >= 16 && image[0] == 0x7f && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';

    private static ElfPatchResult AnalyzeCore(byte[] image, string libraryName, string versionName, ICollection<string> allowedSymbols)
    {
        if (!IsElf(image))
        {
            return new ElfPatchResult(ElfPatchOutcome.NotElf, "not an ELF file (no \\x7fELF magic)");
        }

        if (image[5] != 1)
        {
            return new ElfPatchResult(ElfPatchOutcome.Unsupported, "big-endian ELF files are not handled");
        }

        Section[] sections = ReadSections(image);
        Section? verneed = sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
        if (verneed == null)
        {
            return new ElfPatchResult(ElfPatchOutcome.VersionNotRequired, "the file has no version requirements (.gnu.version_r)");
        }

        Section strings = SectionAt(sections, verneed.Link);
        long entry = verneed.Offset;
        long flagsOffset = -1;
        ushort versionIndex = 0;
        for (uint i = 0; i < verneed.Info && flagsOffset < 0; i++)
        {
            Need(image, entry, 16);
            ushort count = U16(image, entry + 2);
            string file = ReadString(image, strings, U32(image, entry + 4));
            long aux = entry + U32(image, entry + 8);
            for (ushort j = 0; j < count; j++)
            {
                Need(image, aux, 16);
                string name = ReadString(image, strings, U32(image, aux + 8));
                if (file == libraryName && name == versionName)
                {
                    flagsOffset = aux + 4;
                    versionIndex = U16(image, aux + 6);
                    break;
                }

                uint nextAux = U32(image, aux + 12);
                if (nextAux == 0)
                {
                    break;
                }

                aux += nextAux;
            }

            uint next = U32(image, entry + 12);
            if (next == 0)
            {
                break;
            }

            entry += next;
        }

        if (flagsOffset < 0)
        {
            return new ElfPatchResult(ElfPatchOutcome.VersionNotRequired, $"the file does not require {versionName} from {libraryName}");
        }

        List<string> symbols = SymbolsBoundTo(image, sections, versionIndex);
        ushort flags = U16(image, flagsOffset);
        if ((flags & VerFlagWeak) != 0)
        {
            return new ElfPatchResult(ElfPatchOutcome.AlreadyWeak, $"the requirement on {versionName} is already weak", flagsOffset, symbols);
        }

        List<string> unsafeSymbols = symbols.Where(s => !allowedSymbols.Contains(s)).ToList();
        if (unsafeSymbols.Count > 0)
        {
            return new ElfPatchResult(ElfPatchOutcome.UnsafeSymbols,
                $"{versionName} binds symbols not known to be safe without it: {string.Join(", ", unsafeSymbols)}", flagsOffset, symbols);
        }

        return new ElfPatchResult(ElfPatchOutcome.Patched, $"the requirement on {versionName} can be weakened", flagsOffset, symbols);
    }

    private static List<string> SymbolsBoundTo(byte[] image, Section[] sections, ushort versionIndex)
    {
        var result = new List<string>();
        Section? versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        Section? dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (versym == null || dynsym == null || dynsym.EntrySize <= 0)
        {
            return result;
        }

        Section names = SectionAt(sections, dynsym.Link);
        long count = Math.Min(dynsym.Size / dynsym.EntrySize, versym.Size / 2);
        Need(image, dynsym.Offset, count * dynsym.EntrySize);
        Need(image, versym.Offset, count * 2);
        for (long i = 0; i < count; i++)
        {
            if ((U16(image, versym.Offset + 2 * i) & 0x7fff) == versionIndex)
            {
                result.Add(ReadString(image, names, U32(image, dynsym.Offset + i * dynsym.EntrySize)));
            }
        }

        return result;
    }

    private static Section[] ReadSections(byte[] image)
    {
        bool is64 = image[4] == 2;
        if (!is64 && image[4] != 1)
        {
            throw new MalformedElfException($"unknown ELF class {image[4]}");
        }

        Need(image, 0, is64 ? 64 : 52);
        long table = is64 ? (long)U64(image, 0x28) : U32(image, 0x20);
        int entrySize = U16(image, is64 ? 0x3A : 0x2E);
        int count = U16(image, is64 ? 0x3C : 0x30);
        if (count == 0 || table == 0)
        {
            throw new MalformedElfException("the file has no section headers");
        }

        if (entrySize < (is64 ? 64 : 40))
        {
            throw new MalformedElfException($"section header size {entrySize} is too small");
        }

        Need(image, table, (long)entrySize * count);
        var sections = new Section[count];
        for (int i = 0; i < count; i++)
        {
            long h = table + (long)i * entrySize;
            var s = new Section { Type = U32(image, h + 4) };
            if (is64)
            {
                s.Offset = (long)U64(image, h + 24);
                s.Size = (long)U64(image, h + 32);
                s.Link = U32(image, h + 40);
                s.Info = U32(image, h + 44);
                s.EntrySize = (long)U64(image, h + 56);
            }
            else
            {
                s.Offset = U32(image, h + 16);
                s.Size = U32(image, h + 20);
                s.Link = U32(image, h + 24);
                s.Info = U32(image, h + 28);
                s.EntrySize = U32(image, h + 36);
            }

            if (s.Type != 8 /* SHT_NOBITS */ && (s.Offset < 0 || s.Size < 0 || s.Offset > image.Length || s.Size > image.Length - s.Offset))
            {
                throw new MalformedElfException($"section {i} lies outside the file");
            }

            sections[i] = s;
        }

        return sections;
    }

    private static Section SectionAt(Section[] sections, uint index) =>
        index < sections.Length ? sections[index] : throw new MalformedElfException($"section link {index} is out of range");

    private static string ReadString(byte[] image, Section strings, uint offset)
    {
        long start = strings.Offset + offset;
        if (offset >= strings.Size)
        {
            throw new MalformedElfException($"string offset {offset} is outside its table");
        }

        long end = start;
        long limit = strings.Offset + strings.Size;
        while (end < limit && image[end] != 0)
        {
            end++;
        }

        return Encoding.ASCII.GetString(image, (int)start, (int)(end - start));
    }

    private static void Need(byte[] image, long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > image.Length || length > image.Length - offset)
        {
            throw new MalformedElfException($"a table at offset {offset} (length {length}) lies beyond the end of the file ({image.Length} bytes)");
        }
    }

    private static ushort U16(byte[] b, long o)
    {
        Need(b, o, 2);
        return (ushort)(b[o] | (b[o + 1] << 8));
    }

    private static uint U32(byte[] b, long o)
    {
        Need(b, o, 4);
        return (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
    }

    private static ulong U64(byte[] b, long o) => U32(b, o) | ((ulong)U32(b, o + 4) << 32);
}
