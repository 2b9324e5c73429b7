using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CpsLedger.Api.Platform;

public sealed partial class RequestGate
{
    // Bounds of the error path: a body is read again once per repair and once per stand-in variant, and no more than this in all.
    private const int MaxRepairs = 32;
    private const int MaxVariants = 12;
    private const long MaxReviewBytes = 8L * 1024 * 1024;

    /// <summary>
    /// The error path of a body the strict reader refused: every shape problem is named, then the validator's errors for the
    /// fields that are well-formed are added, so a client fixes its request in one round trip.
    /// <list type="number">
    /// <item>Each refusal is explained (<see cref="Diagnosis"/>) and repaired in a copy of the body: a member the request does
    /// not have is left out, any other value named (missing, null, given twice, of the wrong type or form) is replaced by a
    /// stand-in of its type. The copy is read again under the same strict options until it passes, so every problem is named,
    /// each in the words it has alone.</item>
    /// <item>The body's validator runs on the repaired copy, once per stand-in variant: the stand-ins of a value range over its
    /// type (empty and not for text, false and true, every name of an enum, 0, 1, -1 and the extremes of a number, null where
    /// the member may be null...). An error is kept only when every variant gives the field the same sentence, and the field is
    /// not one named above nor inside one: an error that came from a stand-in (a missing member "must not be empty", a
    /// cross-field rule fired by a default standing in for a missing member) is never shown.</item>
    /// </list>
    /// The copies are only ever validated: the endpoint runs on a strictly read body alone, and this request is answered 400.
    /// </summary>
    private async Task ReviewAsync(HttpContext context, JsonTypeInfo typeInfo, JsonElement original, JsonException? refusal,
        List<Step> nullItems, Errors errors)
    {
        var standIns = new StandIns(_options);
        var fixes = new Fix();
        var named = new List<string>();
        foreach (var item in nullItems)
        {
            var parts = item.Parts();
            // An item of a member the request does not have is left as it is: the reader refuses the member, and that is named.
            var (itemType, unknownMember) = Walk(typeInfo, parts);
            if (unknownMember)
                continue;
            var key = KeyOf(parts);
            errors.Add(key, "Must not be null: a list holds values only.");
            named.Add(key);
            if (itemType is not null)
                fixes.Add(parts, standIns.For(itemType, nullable: false));
        }

        var budget = MaxReviewBytes;
        JsonDocument? repaired = null;
        try
        {
            byte[] copy;
            for (var round = 0; ; round++)
            {
                if (refusal is not null)
                {
                    var findings = new Diagnosis(_options, typeInfo, repaired?.RootElement ?? original, standIns).Explain(refusal, errors);
                    named.AddRange(findings.Select(f => f.Key));
                    // Nothing new to repair (the same value refused again): what is named stands, and the validator does not run.
                    var added = findings.Count(f => fixes.Add(f.At, f.With));
                    if (added < findings.Count || findings.Count == 0)
                        return;
                }

                if (round >= MaxRepairs)
                    return;
                copy = Rewrite(original, fixes, 0);
                if ((budget -= copy.Length) < 0)
                    return;
                try
                {
                    JsonSerializer.Deserialize(copy, typeInfo);
                    break;
                }
                catch (JsonException e)
                {
                    refusal = e;
                    repaired?.Dispose();
                    repaired = JsonDocument.Parse(copy);
                }
            }

            var variants = Math.Min(MaxVariants, fixes.Variants());
            List<KeyValuePair<string, string>>? kept = null;
            for (var variant = 0; variant < variants; variant++)
            {
                if (variant > 0)
                {
                    copy = Rewrite(original, fixes, variant);
                    if ((budget -= copy.Length) < 0)
                        return;
                }

                if (JsonSerializer.Deserialize(copy, typeInfo) is not { } read || await StandInFieldErrorsAsync(context, read) is not { } found)
                    return;
                var sentences = found.Where(e => !named.Any(n => Covers(n, e.Key))).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
                kept = [.. (kept ?? [.. sentences]).Where(e => sentences.TryGetValue(e.Key, out var sentence) && sentence == e.Value)];
            }

            foreach (var (field, message) in kept ?? [])
                errors.Add(field, message);
        }
        catch (NoStandIn)
        {
            // A value of a type without stand-ins: what is named stands, and the validator does not run.
        }
        catch (JsonException)
        {
            // A stand-in the reader refused (it should not): likewise.
        }
        finally
        {
            repaired?.Dispose();
        }
    }

    // The validator on a copy with stand-ins. A validator that throws on one (none does: a stand-in is a value a client could send,
    // so it would be a bug for that input too) costs this request its validator errors, not its 400: logged, and the shape's named.
    private static async Task<List<KeyValuePair<string, string>>?> StandInFieldErrorsAsync(HttpContext context, object read)
    {
        try
        {
            return await FieldErrorsAsync(context, read);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            context.RequestServices.GetRequiredService<ILogger<RequestGate>>().LogWarning(e,
                "The validator of {BodyType} threw on a stand-in for a refused value; the 400 names the shape's problems only", read.GetType().Name);
            return null;
        }
    }

    // A field named by the shape covers itself and everything inside it ("$" the whole body).
    private static bool Covers(string named, string field) =>
        named == BodyKey || field == named
                         || (field.Length > named.Length && field.StartsWith(named, StringComparison.Ordinal) && field[named.Length] is '.' or '[');

    // Walks a path of the request: the type at its end (null where the path leaves the request's members), and whether it left them
    // at a member an object of the request does not have (the reader refuses that member, and names it).
    private (Type? At, bool UnknownMember) Walk(JsonTypeInfo type, List<object> parts)
    {
        var at = type;
        foreach (var part in parts)
        {
            if (part is string name)
            {
                if (at.Properties.FirstOrDefault(p => p.Name == name) is not { } property)
                    return (null, at.Kind == JsonTypeInfoKind.Object);
                at = _options.GetTypeInfo(property.PropertyType);
            }
            else if (at.ElementType is { } item)
            {
                at = _options.GetTypeInfo(item);
            }
            else
            {
                return (null, false);
            }
        }

        return (at.Type, false);
    }

    /// <summary>A value the shape named: its errors key, its path, and its stand-in (null: leave the member out).</summary>
    private sealed record Finding(string Key, List<object> At, StandIn? With);

    /// <summary>The repairs of a body, as a tree of the body's members and items.</summary>
    private sealed class Fix
    {
        private Dictionary<string, Fix>? _members;
        private Dictionary<int, Fix>? _items;
        private StandIn? _with;
        private bool _leftOut;

        /// <summary>Adds a repair; false when the value is repaired already (or one around it is), or it is the body itself.</summary>
        public bool Add(List<object> at, StandIn? with)
        {
            if (at.Count == 0)
                return false;
            var node = this;
            foreach (var part in at)
            {
                if (node._with is not null || node._leftOut)
                    return false;
                node = part is string name
                    ? (node._members ??= new(StringComparer.Ordinal)).TryGetValue(name, out var member) ? member : node._members[name] = new Fix()
                    : (node._items ??= []).TryGetValue((int)part, out var item) ? item : node._items[(int)part] = new Fix();
            }

            if (node._with is not null || node._leftOut)
                return false;
            node._with = with;
            node._leftOut = with is null;
            node._members = null;
            node._items = null;
            return true;
        }

        /// <summary>How many variants the stand-ins have (the most any one has).</summary>
        public int Variants() =>
            Math.Max(_with?.Count ?? 1, ((IEnumerable<Fix>?)_members?.Values ?? []).Concat((IEnumerable<Fix>?)_items?.Values ?? [])
                .Select(f => f.Variants()).DefaultIfEmpty(1).Max());

        public void Write(Utf8JsonWriter writer, JsonElement element, int variant)
        {
            if (_with is not null)
            {
                writer.WriteRawValue(_with.Json(variant));
                return;
            }

            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    writer.WriteStartObject();
                    HashSet<string>? replaced = null;
                    foreach (var member in element.EnumerateObject())
                    {
                        var fix = _members?.GetValueOrDefault(member.Name);
                        // A member given twice is written once, as its stand-in.
                        if (fix is { _leftOut: true } || (fix?._with is not null && !(replaced ??= new(StringComparer.Ordinal)).Add(member.Name)))
                            continue;
                        writer.WritePropertyName(member.Name);
                        if (fix is null)
                            member.Value.WriteTo(writer);
                        else
                            fix.Write(writer, member.Value, variant);
                    }

                    // A missing member, given its stand-in.
                    foreach (var (name, fix) in _members ?? [])
                    {
                        if (fix._with is not null && replaced?.Contains(name) != true)
                        {
                            writer.WritePropertyName(name);
                            writer.WriteRawValue(fix._with.Json(variant));
                        }
                    }

                    writer.WriteEndObject();
                    break;
                case JsonValueKind.Array:
                    writer.WriteStartArray();
                    var index = 0;
                    foreach (var item in element.EnumerateArray())
                    {
                        if (_items?.GetValueOrDefault(index++) is { } fix)
                            fix.Write(writer, item, variant);
                        else
                            item.WriteTo(writer);
                    }

                    writer.WriteEndArray();
                    break;
                default:
                    element.WriteTo(writer);
                    break;
            }
        }
    }

    private static byte[] Rewrite(JsonElement original, Fix fixes, int variant)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
            fixes.Write(writer, original, variant);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The stand-ins of one value, as JSON the strict reader takes; null when its type has none.</summary>
    private sealed class StandIn(IReadOnlyList<string>? values)
    {
        public int Count => values?.Count ?? 1;

        public string Json(int variant) => values is null ? throw new NoStandIn() : values[variant % values.Count];
    }

    private sealed class NoStandIn : Exception;

    /// <summary>Values of each type that the strict reader takes, spread over the type so that a rule reading them differs.</summary>
    private sealed class StandIns(JsonSerializerOptions options)
    {
        private const int MaxDepth = 8;

        public StandIn For(Type type, bool nullable)
        {
            try
            {
                var values = Of(type, 0);
                return new StandIn(nullable && values[0] != "null" ? ["null", .. values] : values);
            }
            catch (NoStandIn)
            {
                return new StandIn(null);
            }
        }

        private List<string> Of(Type type, int depth)
        {
            if (depth > MaxDepth)
                throw new NoStandIn();
            if (Nullable.GetUnderlyingType(type) is { } underlying)
                return ["null", .. Of(underlying, depth)];
            if (type == typeof(string))
                return ["\"\"", "\"x\""];
            if (type == typeof(bool))
                return ["false", "true"];
            if (type.IsEnum)
                return [.. LedgerJson.NamesOf(type).Select(n => JsonSerializer.Serialize(n))];
            if (type == typeof(int))
                return Numbers(int.MinValue, int.MaxValue);
            if (type == typeof(long))
                return Numbers(long.MinValue, long.MaxValue);
            if (type == typeof(short))
                return Numbers(short.MinValue, short.MaxValue);
            if (type == typeof(decimal))
                return ["0", "1", "-1", "9999999999999999999999999999", "-9999999999999999999999999999"];
            if (type == typeof(double) || type == typeof(float))
                return ["0", "1", "-1", "1e30", "-1e30"];
            if (type == typeof(Guid))
                return ["\"00000000-0000-0000-0000-000000000001\"", "\"ffffffff-ffff-ffff-ffff-ffffffffffff\""];
            if (type == typeof(DateOnly))
                return ["\"0001-01-01\"", "\"2000-01-01\"", "\"9999-12-31\""];
            if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
                return ["\"0001-01-01T00:00:00Z\"", "\"2000-01-01T00:00:00Z\"", "\"9999-12-31T00:00:00Z\""];
            if (type == typeof(TimeOnly))
                return ["\"00:00:00\"", "\"23:59:59\""];

            var info = options.GetTypeInfo(type);
            switch (info.Kind)
            {
                case JsonTypeInfoKind.Enumerable:
                    // Lists hold no null (RequestGate.NullItems).
                    return ["[]", .. Of(info.ElementType!, depth + 1).Where(v => v != "null").Take(MaxVariants).Select(v => $"[{v}]")];
                case JsonTypeInfoKind.Dictionary:
                    return ["{}"];
                case JsonTypeInfoKind.Object:
                    var members = info.Properties.Where(p => p.IsRequired)
                        .Select(p => (Name: JsonSerializer.Serialize(p.Name), Values: Of(p.PropertyType, depth + 1)))
                        .ToList();
                    var count = Math.Min(MaxVariants, members.Select(m => m.Values.Count).DefaultIfEmpty(1).Max());
                    return [.. Enumerable.Range(0, count).Select(k =>
                        "{" + string.Join(",", members.Select(m => $"{m.Name}:{m.Values[k % m.Values.Count]}")) + "}")];
                default:
                    throw new NoStandIn();
            }
        }

        private static List<string> Numbers(long min, long max) =>
            ["0", "1", "-1", max.ToString(CultureInfo.InvariantCulture), min.ToString(CultureInfo.InvariantCulture)];
    }
}
