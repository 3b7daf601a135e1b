using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Circuits.Interpretability.IO;

/// <summary>A Python global (module attribute) that the allow-list accepted; it is a name, never code.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A Python tuple.</summary>
internal sealed record PyTuple(object?[] Items);

/// <summary>A Python dict or OrderedDict, in insertion order.</summary>
internal sealed class PyDict
{
    public List<KeyValuePair<object?, object?>> Items { get; } = new();

    public void Set(object? key, object? value)
    {
        for (int i = 0; i < Items.Count; i++)
        {
            if (Equals(Items[i].Key, key))
            {
                Items[i] = KeyValuePair.Create(key, value);
                return;
            }
        }

        Items.Add(KeyValuePair.Create(key, value));
    }
}

/// <summary>
/// A minimal, safe reader for the pickles that <c>torch.save</c> writes for state dicts. It interprets a fixed
/// set of opcodes with a data stack, accepts only allow-listed globals (the tensor rebuild functions,
/// <c>collections.OrderedDict</c> and the storage types), hands persistent ids to the caller, and never
/// executes, imports or instantiates anything. Every length is checked against the bytes that remain before
/// anything is allocated.
/// </summary>
internal sealed class PickleReader
{
    private static readonly HashSet<string> AllowedGlobals = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage",
        "torch.DoubleStorage",
        "torch.HalfStorage",
        "torch.BFloat16Storage",
        "torch.LongStorage",
        "torch.IntStorage",
        "torch.ShortStorage",
        "torch.CharStorage",
        "torch.ByteStorage",
        "torch.BoolStorage",
    };

    private static readonly object Mark = new();

    private readonly Stream _stream;
    private readonly string _source;
    private readonly Func<PyTuple, object> _persistentLoad;
    private readonly Func<PyGlobal, PyTuple, object?> _call;
    private readonly List<object?> _stack = new();
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();

    /// <param name="stream">The pickle; reading starts at the current position and stops after STOP.</param>
    /// <param name="source">The file name for messages.</param>
    /// <param name="persistentLoad">Resolves a persistent id (a tuple) to an object.</param>
    /// <param name="call">Applies an allow-listed global to arguments (the REDUCE opcode).</param>
    public PickleReader(Stream stream, string source, Func<PyTuple, object> persistentLoad, Func<PyGlobal, PyTuple, object?> call)
    {
        _stream = stream;
        _source = source;
        _persistentLoad = persistentLoad;
        _call = call;
    }

    /// <summary>Reads one pickled object.</summary>
    public object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        while (true)
        {
            long position = _stream.Position;
            byte op = ReadByte();
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        byte protocol = ReadByte();
                        if (protocol > 5)
                        {
                            throw Error($"pickle protocol {protocol} at byte {position}; expected 2 to 5");
                        }

                        break;
                    }

                case 0x95: // FRAME: a length hint only
                    ReadBytes(8);
                    break;
                case (byte)'.': // STOP
                    if (_stack.Count != 1 || _marks.Count != 0)
                    {
                        throw Error($"STOP at byte {position} with {_stack.Count} items on the stack; expected exactly 1");
                    }

                    return _stack[0];
                case (byte)'(':
                    _marks.Push(_stack.Count);
                    _stack.Add(Mark);
                    break;
                case (byte)')':
                    Push(new PyTuple(Array.Empty<object?>()));
                    break;
                case (byte)'t':
                    Push(new PyTuple(PopToMark().ToArray()));
                    break;
                case 0x85:
                    Push(new PyTuple(new[] { Pop() }));
                    break;
                case 0x86:
                    {
                        object? b = Pop();
                        object? a = Pop();
                        Push(new PyTuple(new[] { a, b }));
                        break;
                    }

                case 0x87:
                    {
                        object? c = Pop();
                        object? b = Pop();
                        object? a = Pop();
                        Push(new PyTuple(new[] { a, b, c }));
                        break;
                    }

                case (byte)']':
                    Push(new List<object?>());
                    break;
                case (byte)'l':
                    Push(PopToMark());
                    break;
                case (byte)'a':
                    {
                        object? item = Pop();
                        AsList(Peek(), position).Add(item);
                        break;
                    }

                case (byte)'e':
                    {
                        List<object?> items = PopToMark();
                        AsList(Peek(), position).AddRange(items);
                        break;
                    }

                case (byte)'}':
                    Push(new PyDict());
                    break;
                case (byte)'d':
                    {
                        List<object?> items = PopToMark();
                        var dict = new PyDict();
                        AddPairs(dict, items, position);
                        Push(dict);
                        break;
                    }

                case (byte)'s':
                    {
                        object? value = Pop();
                        object? key = Pop();
                        AsDict(Peek(), position).Set(key, value);
                        break;
                    }

                case (byte)'u':
                    {
                        List<object?> items = PopToMark();
                        AddPairs(AsDict(Peek(), position), items, position);
                        break;
                    }

                case (byte)'N':
                    Push(null);
                    break;
                case 0x88:
                    Push(true);
                    break;
                case 0x89:
                    Push(false);
                    break;
                case (byte)'J':
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)));
                    break;
                case (byte)'K':
                    Push((long)ReadByte());
                    break;
                case (byte)'M':
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2)));
                    break;
                case 0x8a: // LONG1
                    Push(ReadLong(ReadByte()));
                    break;
                case 0x8b: // LONG4
                    {
                        int n = BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));
                        if (n < 0 || n > 64)
                        {
                            throw Error($"LONG4 of {n} bytes at byte {position}; integers in state dicts take at most 64 bytes");
                        }

                        Push(ReadLong(n));
                        break;
                    }

                case (byte)'G':
                    Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8)));
                    break;
                case (byte)'X':
                    Push(Encoding.UTF8.GetString(ReadBytes(ReadLength(4, position))));
                    break;
                case 0x8c:
                    Push(Encoding.UTF8.GetString(ReadBytes(ReadByte())));
                    break;
                case 0x8d:
                    Push(Encoding.UTF8.GetString(ReadBytes(ReadLength(8, position))));
                    break;
                case (byte)'T':
                    Push(Encoding.Latin1.GetString(ReadBytes(ReadLength(4, position))));
                    break;
                case (byte)'U':
                    Push(Encoding.Latin1.GetString(ReadBytes(ReadByte())));
                    break;
                case (byte)'B':
                    Push(ReadBytes(ReadLength(4, position)));
                    break;
                case (byte)'C':
                    Push(ReadBytes(ReadByte()));
                    break;
                case 0x8e:
                    Push(ReadBytes(ReadLength(8, position)));
                    break;
                case (byte)'q':
                    _memo[ReadByte()] = Peek();
                    break;
                case (byte)'r':
                    _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek();
                    break;
                case 0x94: // MEMOIZE
                    _memo[_memo.Count] = Peek();
                    break;
                case (byte)'h':
                    Push(MemoGet(ReadByte(), position));
                    break;
                case (byte)'j':
                    Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)), position));
                    break;
                case (byte)'c': // GLOBAL
                    {
                        string module = ReadLine(position);
                        string name = ReadLine(position);
                        Push(Global(module, name, position));
                        break;
                    }

                case 0x93: // STACK_GLOBAL
                    {
                        object? name = Pop();
                        object? module = Pop();
                        if (module is not string m || name is not string n)
                        {
                            throw Error($"STACK_GLOBAL at byte {position} without two strings");
                        }

                        Push(Global(m, n, position));
                        break;
                    }

                case (byte)'R': // REDUCE
                    {
                        object? args = Pop();
                        object? callable = Pop();
                        if (callable is not PyGlobal global || args is not PyTuple tuple)
                        {
                            throw Error($"REDUCE at byte {position} applies {Describe(callable)} to {Describe(args)}; expected an allowed global and a tuple");
                        }

                        Push(_call(global, tuple));
                        break;
                    }

                case (byte)'b': // BUILD: only the attribute dict of an OrderedDict (state_dict()._metadata) is accepted, and ignored
                    {
                        object? state = Pop();
                        object? target = Peek();
                        if (target is not PyDict || state is not (PyDict or PyTuple or null))
                        {
                            throw new UnsafePickleException($"{_source}: BUILD at byte {position} sets the state of {Describe(target)}; a state dict only sets the attributes of an OrderedDict.");
                        }

                        break;
                    }

                case (byte)'Q': // BINPERSID
                    {
                        object? pid = Pop();
                        if (pid is not PyTuple tuple)
                        {
                            throw Error($"persistent id at byte {position} is {Describe(pid)}; expected a tuple");
                        }

                        Push(_persistentLoad(tuple));
                        break;
                    }

                case (byte)'0':
                    Pop();
                    break;
                case (byte)'1':
                    PopToMark();
                    break;
                case (byte)'2':
                    Push(Peek());
                    break;
                default:
                    throw new UnsafePickleException($"{_source}: pickle opcode 0x{op:x2} ('{(op is >= 32 and < 127 ? ((char)op).ToString() : "?")}') at byte {position} is not accepted; " +
                        "a state dict needs only the container, number, string, memo, global, REDUCE, BUILD and persistent-id opcodes of protocol 2.");
            }
        }
    }

    private PyGlobal Global(string module, string name, long position)
    {
        string full = $"{module}.{name}";
        if (!AllowedGlobals.Contains(full))
        {
            throw new UnsafePickleException($"{_source}: the pickle asks for the global '{full}' at byte {position}, which is not allowed. " +
                $"A state dict only uses {string.Join(", ", AllowedGlobals.Order(StringComparer.Ordinal))}. Nothing was executed.");
        }

        return new PyGlobal(module, name);
    }

    private object ReadLong(int n)
    {
        byte[] bytes = ReadBytes(n);
        if (n == 0)
        {
            return 0L;
        }

        if (n <= 8)
        {
            long value = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                value = (value << 8) | bytes[i];
            }

            // Sign-extend from n bytes.
            int shift = 64 - (8 * n);
            return shift == 0 ? value : (value << shift) >> shift;
        }

        return new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
    }

    private int ReadLength(int size, long position)
    {
        byte[] b = ReadBytes(size);
        long length = size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadInt64LittleEndian(b);
        long remaining = _stream.Length - _stream.Position;
        if (length < 0 || length > remaining)
        {
            throw Error($"a string or bytes object at byte {position} declares {length} bytes but only {remaining} remain (truncated or corrupted)");
        }

        return (int)length;
    }

    private string ReadLine(long position)
    {
        var sb = new StringBuilder();
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\n')
            {
                return sb.ToString();
            }

            if (sb.Length > 256)
            {
                throw Error($"GLOBAL at byte {position} has a name longer than 256 characters");
            }

            sb.Append((char)b);
        }
    }

    private byte ReadByte()
    {
        int b = _stream.ReadByte();
        if (b < 0)
        {
            throw Error($"the pickle ends at byte {_stream.Position} before its STOP opcode (truncated)");
        }

        return (byte)b;
    }

    private byte[] ReadBytes(int count)
    {
        if (count > _stream.Length - _stream.Position)
        {
            throw Error($"the pickle needs {count} bytes at byte {_stream.Position} but the file ends first (truncated)");
        }

        var buffer = new byte[count];
        _stream.ReadExactly(buffer);
        return buffer;
    }

    private object? MemoGet(long index, long position) => _memo.TryGetValue(index, out object? value)
        ? value
        : throw Error($"memo entry {index} read at byte {position} was never stored");

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count - 1))
        {
            throw Error($"stack underflow at byte {_stream.Position}");
        }

        object? value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || ReferenceEquals(_stack[^1], Mark))
        {
            throw Error($"stack underflow at byte {_stream.Position}");
        }

        return _stack[^1];
    }

    private List<object?> PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw Error($"an opcode at byte {_stream.Position} needs a MARK that was never set");
        }

        int mark = _marks.Pop();
        List<object?> items = _stack.GetRange(mark + 1, _stack.Count - mark - 1);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private void AddPairs(PyDict dict, List<object?> items, long position)
    {
        if (items.Count % 2 != 0)
        {
            throw Error($"SETITEMS at byte {position} with an odd number ({items.Count}) of keys and values");
        }

        for (int i = 0; i < items.Count; i += 2)
        {
            dict.Set(items[i], items[i + 1]);
        }
    }

    private List<object?> AsList(object? value, long position) =>
        value as List<object?> ?? throw Error($"APPEND at byte {position} on {Describe(value)}; expected a list");

    private PyDict AsDict(object? value, long position) =>
        value as PyDict ?? throw Error($"SETITEM at byte {position} on {Describe(value)}; expected a dict");

    internal static string Describe(object? value) => value switch
    {
        null => "None",
        PyGlobal g => $"the global '{g.FullName}'",
        PyTuple t => $"a tuple of {t.Items.Length}",
        PyDict => "a dict",
        List<object?> => "a list",
        string s => $"the string '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        _ => $"a {value.GetType().Name}",
    };

    private WeightFormatException Error(string what) => new($"{_source}: corrupted pickle: {what}.");
}
