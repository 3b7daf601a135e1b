namespace Circuits.Interpretability.IO;

/// <summary>
/// A minimal, safe reader for the pickles that <c>torch.save</c> writes for state dicts. It interprets a fixed
/// set of opcodes with a data stack, accepts only allow-listed globals (the tensor rebuild functions,
/// <c>collections.OrderedDict</c> and the storage types), hands persistent ids to the caller, and never
/// executes, imports or instantiates anything. Every opcode does work proportional to its own bytes (dicts
/// are built in linear time), so reading is linear in the pickle's size, which is capped.
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

    private readonly PickleInput _in;
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
    /// <param name="maxBytes">The most bytes the pickle may take (<see cref="WeightLoadOptions.MaxPickleBytes"/>).</param>
    public PickleReader(Stream stream, string source, Func<PyTuple, object> persistentLoad, Func<PyGlobal, PyTuple, object?> call, long maxBytes)
    {
        _in = new PickleInput(stream, source, maxBytes);
        _source = source;
        _persistentLoad = persistentLoad;
        _call = call;
    }

    /// <summary>The bytes this reader has consumed.</summary>
    public long BytesRead => _in.Consumed;

    /// <summary>Reads one pickled object.</summary>
    public object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        while (true)
        {
            long position = _in.Position;
            byte op = _in.ReadByte();
            if (op == (byte)'.')
            {
                // STOP
                if (_stack.Count != 1 || _marks.Count != 0)
                {
                    throw _in.Error($"STOP at byte {position} with {_stack.Count} items on the stack; expected exactly 1");
                }

                return _stack[0];
            }

            Step(op, position);
        }
    }

    private void Step(byte op, long position)
    {
        switch (op)
        {
            case 0x80: // PROTO
                byte protocol = _in.ReadByte();
                if (protocol > 5)
                {
                    throw _in.Error($"pickle protocol {protocol} at byte {position}; expected 2 to 5");
                }

                break;
            case 0x95: // FRAME: a length hint only
                _in.ReadBytes(8);
                break;
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
                Push((long)_in.ReadInt32());
                break;
            case (byte)'K':
                Push((long)_in.ReadByte());
                break;
            case (byte)'M':
                Push((long)_in.ReadUInt16());
                break;
            case 0x8a: // LONG1
                Push(_in.ReadLong(_in.ReadByte()));
                break;
            case 0x8b: // LONG4
                int n = _in.ReadInt32();
                if (n < 0 || n > 64)
                {
                    throw _in.Error($"LONG4 of {n} bytes at byte {position}; integers in state dicts take at most 64 bytes");
                }

                Push(_in.ReadLong(n));
                break;
            case (byte)'G':
                Push(_in.ReadDoubleBigEndian());
                break;
            case (byte)'X':
                Push(_in.ReadUtf8(_in.ReadLength(4, position), position));
                break;
            case 0x8c:
                Push(_in.ReadUtf8(_in.ReadByte(), position));
                break;
            case 0x8d:
                Push(_in.ReadUtf8(_in.ReadLength(8, position), position));
                break;
            case (byte)'T':
                Push(_in.ReadLatin1(_in.ReadLength(4, position)));
                break;
            case (byte)'U':
                Push(_in.ReadLatin1(_in.ReadByte()));
                break;
            case (byte)'B':
                Push(_in.ReadBytes(_in.ReadLength(4, position)));
                break;
            case (byte)'C':
                Push(_in.ReadBytes(_in.ReadByte()));
                break;
            case 0x8e:
                Push(_in.ReadBytes(_in.ReadLength(8, position)));
                break;
            case (byte)'q':
                _memo[_in.ReadByte()] = Peek();
                break;
            case (byte)'r':
                _memo[_in.ReadUInt32()] = Peek();
                break;
            case 0x94: // MEMOIZE
                _memo[_memo.Count] = Peek();
                break;
            case (byte)'h':
                Push(MemoGet(_in.ReadByte(), position));
                break;
            case (byte)'j':
                Push(MemoGet(_in.ReadUInt32(), position));
                break;
            case (byte)'c': // GLOBAL
                {
                    string module = _in.ReadLine(position);
                    string name = _in.ReadLine(position);
                    Push(Global(module, name, position));
                    break;
                }

            case 0x93: // STACK_GLOBAL
                {
                    object? name = Pop();
                    object? module = Pop();
                    if (module is not string m || name is not string s)
                    {
                        throw _in.Error($"STACK_GLOBAL at byte {position} without two strings");
                    }

                    Push(Global(m, s, position));
                    break;
                }

            case (byte)'R': // REDUCE
                {
                    object? args = Pop();
                    object? callable = Pop();
                    if (callable is not PyGlobal global || args is not PyTuple tuple)
                    {
                        throw _in.Error($"REDUCE at byte {position} applies {Describe(callable)} to {Describe(args)}; expected an allowed global and a tuple");
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
                        throw _in.Error($"persistent id at byte {position} is {Describe(pid)}; expected a tuple");
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

    private object? MemoGet(long index, long position) => _memo.TryGetValue(index, out object? value)
        ? value
        : throw _in.Error($"memo entry {index} read at byte {position} was never stored");

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count - 1))
        {
            throw _in.Error($"stack underflow at byte {_in.Position}");
        }

        object? value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || ReferenceEquals(_stack[^1], Mark))
        {
            throw _in.Error($"stack underflow at byte {_in.Position}");
        }

        return _stack[^1];
    }

    private List<object?> PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw _in.Error($"an opcode at byte {_in.Position} needs a MARK that was never set");
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
            throw _in.Error($"SETITEMS at byte {position} with an odd number ({items.Count}) of keys and values");
        }

        for (int i = 0; i < items.Count; i += 2)
        {
            dict.Set(items[i], items[i + 1]);
        }
    }

    private List<object?> AsList(object? value, long position) =>
        value as List<object?> ?? throw _in.Error($"APPEND at byte {position} on {Describe(value)}; expected a list");

    private PyDict AsDict(object? value, long position) =>
        value as PyDict ?? throw _in.Error($"SETITEM at byte {position} on {Describe(value)}; expected a dict");

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
}
