using System.Buffers.Binary;
using System.Diagnostics;
using Circuits.Interpretability.IO;
using Xunit.Abstractions;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>
/// Mutation fuzzing of every weight format (issue 13): zip and legacy PyTorch checkpoints, a deflated and an
/// expanded (stride 0) checkpoint from PyTorch, safetensors, and hand-built pickles with memo sharing, nested
/// dicts and tied weights. Fixed seed and count; each mutant gets 1 to 3 mutations (bit flips, interesting
/// bytes, interesting 32- and 64-bit integers, truncation, chunk duplication and deletion, splices from
/// another file). Only the library's <see cref="WeightFormatException"/> may come out, and no mutant may
/// allocate more than <see cref="Bound"/>. Loading is managed code only (no TorchSharp), so the bytes allocated
/// on the loading thread are all the memory a load takes. For a longer run by hand, set CIRCUITS_FUZZ_SEED and
/// CIRCUITS_FUZZ_COUNT (mutants per file); the suite always runs the fixed seed and count.
/// </summary>
public class WeightFileFuzzTests
{
    private static readonly int Seed = int.Parse(Environment.GetEnvironmentVariable("CIRCUITS_FUZZ_SEED") ?? "20240613");
    private static readonly int MutantsPerFile = int.Parse(Environment.GetEnvironmentVariable("CIRCUITS_FUZZ_COUNT") ?? "3000");

    private static readonly uint[] Int32s = { 0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFC7, 0x7FFFFFC8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF };
    private static readonly long[] Int64s = { 0, 1, -1, 1L << 31, 1L << 32, 1L << 40, 1L << 62, long.MaxValue, long.MinValue };
    private static readonly byte[] Bytes = { 0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'}', (byte)'.', (byte)'h', (byte)'j', 0x94 };

    private readonly ITestOutputHelper _output;

    public WeightFileFuzzTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// The most a mutant may allocate: 1 MiB of zip inflation slack, 16 MiB of view expansion
    /// (<see cref="WeightLoadOptions.MaxViewExpansionBytes"/>), at most 4 copies of the file's bytes (pickle, storage
    /// spans, the tensors copied out of them, the directory), plus 2 MiB for buffers and bookkeeping.
    /// </summary>
    private static long Bound(int fileLength) => (1L << 20) + (16L << 20) + (4L * fileLength) + (2L << 20);

    [Fact]
    public void Mutants_of_every_format_give_only_typed_errors_and_bounded_allocations()
    {
        var corpus = Corpus();
        var random = new Random(Seed);
        var stats = new List<string>();
        Exception? failure = null;
        int accepted = 0, refused = 0, total = 0;
        long maxAllocated = 0;
        double maxMilliseconds = 0;
        string current = "";

        var worker = new Thread(() =>
        {
            try
            {
                foreach (var (name, original) in corpus)
                {
                    long fileMax = 0;
                    for (int i = 0; i < MutantsPerFile; i++)
                    {
                        byte[] mutant = Mutate(original, corpus[random.Next(corpus.Count)].Bytes, random, out string how);
                        current = $"{name} mutant {i} ({how})";
                        var clock = Stopwatch.StartNew();
                        long before = GC.GetAllocatedBytesForCurrentThread();
                        try
                        {
                            WeightFile.Load(new MemoryStream(mutant), name);
                            accepted++;
                        }
                        catch (WeightFormatException)
                        {
                            refused++;
                        }

                        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                        total++;
                        fileMax = Math.Max(fileMax, allocated);
                        maxAllocated = Math.Max(maxAllocated, allocated);
                        maxMilliseconds = Math.Max(maxMilliseconds, clock.Elapsed.TotalMilliseconds);
                        if (allocated > Bound(mutant.Length))
                        {
                            throw new InvalidOperationException($"{current} allocated {allocated} bytes, more than the bound {Bound(mutant.Length)}");
                        }
                    }

                    stats.Add($"{name} ({original.Length} bytes): max {fileMax / 1024.0:0.0} KiB allocated");
                }
            }
            catch (Exception e)
            {
                failure = new InvalidOperationException($"{current}: {e.GetType().Name}: {e.Message}", e);
            }
        });
        worker.Start();

        // A hang detector, not a performance target: the whole run takes a few seconds.
        worker.Join(TimeSpan.FromMinutes(3)).Should().BeTrue($"the fuzz run hung at {current}");
        failure.Should().BeNull();
        foreach (string line in stats)
        {
            _output.WriteLine(line);
        }

        _output.WriteLine($"{total} mutants: {accepted} loaded, {refused} refused with WeightFormatException; max {maxAllocated / 1024.0:0.0} KiB allocated, slowest {maxMilliseconds:0.0} ms");
        total.Should().Be(corpus.Count * MutantsPerFile);
        refused.Should().BeGreaterThan(total / 4, "most mutants are damaged");
        accepted.Should().BeGreaterThan(0, "some mutations (in values) leave a valid file");
    }

    private static List<(string Name, byte[] Bytes)> Corpus()
    {
        using var safetensors = new MemoryStream();
        SafeTensors.Save(safetensors, PyTorchCheckpoint.Load(Fixtures.InceptionV1("loader_zip.pth")), new Dictionary<string, string> { ["format"] = "pt" });

        // Pickle paths torch.save's own files do not take: memo sharing, nested dicts, tied weights, SETITEMS.
        var a = new PickledTensor("a", "0", 6, new long[] { 2, 3 }, new long[] { 3, 1 });
        var b = new PickledTensor("b", "0", 6, new long[] { 3, 2 }, new long[] { 1, 3 });
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Str("epoch").Int(3).SetItem()
            .Str("state_dict").EmptyDict().Mark().Str("a").Tensor(a).Put(1).Str("b").Tensor(b).Str("tied").Get(1).SetItems().SetItem()
            .Stop().Bytes;
        byte[] data = new byte[24];
        for (int i = 0; i < 6; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), i - 2.5f);
        }

        byte[] keys = new PickleWriter().Proto().EmptyList().Str("0").Append().Stop().Bytes;
        var count = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(count, 6);

        return new List<(string, byte[])>
        {
            ("loader_zip.pth", File.ReadAllBytes(Fixtures.InceptionV1("loader_zip.pth"))),
            ("loader_legacy.pth", File.ReadAllBytes(Fixtures.InceptionV1("loader_legacy.pth"))),
            ("deflated.pth", File.ReadAllBytes(ZipHardeningTests.Hardening("deflated.pth"))),
            ("expanded.pth", File.ReadAllBytes(ZipHardeningTests.Hardening("expanded.pth"))),
            ("loader.safetensors", safetensors.ToArray()),
            ("pickle_paths.pth", Checkpoint(pickle, ("0", data))),
            ("pickle_paths_legacy.pth", LegacyHeader().Concat(pickle).Concat(keys).Concat(count).Concat(data).ToArray()),
        };
    }

    private static byte[] Mutate(byte[] original, byte[] other, Random random, out string how)
    {
        byte[] bytes = (byte[])original.Clone();
        var steps = new List<string>();
        int mutations = 1 + random.Next(3);
        for (int m = 0; m < mutations && bytes.Length > 8; m++)
        {
            int at = random.Next(bytes.Length);
            switch (random.Next(8))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    steps.Add($"flip@{at}");
                    break;
                case 1:
                    bytes[at] = Bytes[random.Next(Bytes.Length)];
                    steps.Add($"byte@{at}");
                    break;
                case 2:
                    at = Math.Min(at, bytes.Length - 4);
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), Int32s[random.Next(Int32s.Length)]);
                    steps.Add($"int32@{at}");
                    break;
                case 3:
                    at = Math.Min(at, bytes.Length - 8);
                    BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), Int64s[random.Next(Int64s.Length)]);
                    steps.Add($"int64@{at}");
                    break;
                case 4:
                    bytes = bytes[..at];
                    steps.Add($"cut@{at}");
                    break;
                case 5:
                    {
                        int length = random.Next(1, Math.Min(64, bytes.Length - at) + 1);
                        bytes = bytes[..(at + length)].Concat(bytes[at..]).ToArray();
                        steps.Add($"dup@{at}+{length}");
                        break;
                    }

                case 6:
                    {
                        int length = random.Next(1, Math.Min(64, bytes.Length - at) + 1);
                        bytes = bytes[..at].Concat(bytes[(at + length)..]).ToArray();
                        steps.Add($"del@{at}+{length}");
                        break;
                    }

                default:
                    {
                        int from = random.Next(other.Length);
                        int length = Math.Min(random.Next(1, 64), Math.Min(other.Length - from, bytes.Length - at));
                        other.AsSpan(from, length).CopyTo(bytes.AsSpan(at));
                        steps.Add($"splice@{at}+{length}");
                        break;
                    }
            }
        }

        how = string.Join(",", steps);
        return bytes;
    }
}
