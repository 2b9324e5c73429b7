using System.Buffers;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Marten;
using Marten.Schema;
using Marten.Services;
using Npgsql;
using NpgsqlTypes;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Writes documents of one type with binary COPY, with the columns Marten's own storage fills for it: id, data (Marten's
/// serializer), mt_dotnet_type, mt_version (the caller's version where the table keeps numeric revisions: a projected document
/// carries its stream's; else a fresh revision, a version 7 Guid, as Marten's inserts write one (its generator, obsolete, names
/// <see cref="Guid.CreateVersion7()"/> as its replacement): the column's default, an md5 of a random number and the clock, cost
/// PostgreSQL a third of a 500,000-claim COPY) and every duplicated field's column.
/// mt_last_modified takes its default, the transaction's timestamp, as it does under Marten's inserts. Used by the import's bulk path and by
/// the fast rebuild. A column it does not know (a metadata column switched on later, say) stops it rather than being left to its
/// default unnoticed. One instance writes one COPY at a time. The JSON is Marten's, with each object's members written in
/// the order jsonb keeps them (<see cref="InJsonbOrder"/>).
/// </summary>
public sealed class DocumentCopy
{
    private static readonly HashSet<string> Written = ["id", "data", "mt_dotnet_type", "mt_version"];
    private static readonly HashSet<string> Defaulted = ["mt_last_modified"];

    private readonly ISerializer _serializer;
    private readonly string _dotnetType;
    private readonly NpgsqlDbType? _versionType;
    private readonly NpgsqlDbType _idType;
    private readonly (Func<object, object?> Value, NpgsqlDbType Type)[] _duplicated;

    // Each document's JSON, written as UTF-8 into one reused buffer: no string per document, nor its transcoding by Npgsql.
    private readonly ArrayBufferWriter<byte> _json = new(16 * 1024);

    private DocumentCopy(IDocumentStore store, DocumentMapping mapping, NpgsqlDbType? versionType, string columns,
        (Func<object, object?>, NpgsqlDbType)[] duplicated)
    {
        var documentType = mapping.DocumentType;
        _serializer = InJsonbOrder(store.Options.Serializer());
        _dotnetType = documentType.FullName!;
        _versionType = versionType;
        _idType = mapping.IdType == typeof(Guid) ? NpgsqlDbType.Uuid
            : mapping.IdType == typeof(string) ? NpgsqlDbType.Varchar
            : throw new NotSupportedException($"{documentType.Name}: only Guid and string ids are copied.");
        _duplicated = duplicated;
        Table = DocumentTable(store, documentType);
        Command = $"copy {Table} ({columns}) from stdin (format binary)";
    }

    /// <summary>A document type's table, by Marten's naming (mt_doc_ and the type's name in lower case; no alias is configured here).</summary>
    public static string DocumentTable(IDocumentStore store, Type documentType) =>
        $"{store.Options.DatabaseSchemaName}.mt_doc_{documentType.Name.ToLowerInvariant()}";

    public string Table { get; }

    /// <summary>The COPY statement to open with <see cref="NpgsqlConnection.BeginBinaryImportAsync(string, CancellationToken)"/>.</summary>
    public string Command { get; }

    /// <summary>Reads the table's columns and checks that each is one this copy writes or may leave to its default.</summary>
    public static async Task<DocumentCopy> ForAsync(IDocumentStore store, Type documentType, NpgsqlConnection connection, CancellationToken ct)
    {
        var mapping = (DocumentMapping)store.Options.FindOrResolveDocumentType(documentType);
        var duplicated = mapping.DuplicatedFields.ToDictionary(f => f.ColumnName);
        var columns = new Dictionary<string, string>();
        await using (var command = new NpgsqlCommand(
                         "select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2", connection))
        {
            command.Parameters.AddWithValue(store.Options.DatabaseSchemaName);
            command.Parameters.AddWithValue($"mt_doc_{documentType.Name.ToLowerInvariant()}");
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                columns[reader.GetString(0)] = reader.GetString(1);
        }

        if (columns.Count == 0)
            throw new InvalidOperationException($"{DocumentTable(store, documentType)} does not exist.");
        var unknown = columns.Keys.Where(c => !Written.Contains(c) && !Defaulted.Contains(c) && !duplicated.ContainsKey(c)).ToList();
        if (unknown.Count > 0)
            throw new InvalidOperationException($"{DocumentTable(store, documentType)} has columns a document copy does not write: {string.Join(", ", unknown)}.");

        NpgsqlDbType? version = columns.GetValueOrDefault("mt_version") switch
        {
            null => null,
            "bigint" => NpgsqlDbType.Bigint,
            "uuid" => NpgsqlDbType.Uuid,
            var other => throw new InvalidOperationException($"{DocumentTable(store, documentType)}: a document copy does not write an mt_version of type {other}."),
        };
        var fields = duplicated.Values.Where(f => columns.ContainsKey(f.ColumnName)).ToList();
        var names = new List<string> { "id", "data", "mt_dotnet_type" };
        if (version is not null)
            names.Add("mt_version");
        names.AddRange(fields.Select(f => f.ColumnName));
        return new DocumentCopy(store, mapping, version, string.Join(", ", names),
            [.. fields.Select(f => (ValueOf(f.Members, f.DbType), f.DbType))]);
    }

    /// <summary>One document's row; <paramref name="version"/> is written where the table keeps numeric revisions.</summary>
    public async Task WriteAsync(NpgsqlBinaryImporter copy, object id, object document, long version, CancellationToken ct)
    {
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(id, _idType, ct);
        _json.ResetWrittenCount();
        _serializer.WriteTo(_json, document);
        await copy.WriteAsync(_json.WrittenMemory, NpgsqlDbType.Jsonb, ct);
        await copy.WriteAsync(_dotnetType, NpgsqlDbType.Varchar, ct);
        if (_versionType == NpgsqlDbType.Bigint)
            await copy.WriteAsync(version, NpgsqlDbType.Bigint, ct);
        else if (_versionType == NpgsqlDbType.Uuid)
            await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid, ct);
        foreach (var (value, type) in _duplicated)
        {
            if (value(document) is { } v)
                await copy.WriteAsync(v, type, ct);
            else
                await copy.WriteNullAsync(ct);
        }
    }

    private static readonly ConditionalWeakTable<ISerializer, ISerializer> Ordered = [];

    /// <summary>
    /// Marten's serializer as the store configures it (enums and casing: Store.cs sets nothing else on it; what it might set
    /// later must be set here too, and FastRebuildTests compare the rebuilt documents byte for byte with the stored ones),
    /// writing each object's members in the order jsonb keeps an object's keys: shorter names first, then by their bytes.
    /// PostgreSQL sorts the keys of every object it parses into jsonb, and its sort returns at once when they come sorted: the
    /// stored bytes are the same, and the COPY's backend parses for less. The sort was about a fifth of that backend's CPU for
    /// ProductView's documents, and that backend is what ProductView's lane of the rebuild waits on (2026-12-03, 300,000
    /// events into 200,000 documents, six rebuilds taking turns: 1.38–1.42 s of its CPU before, 1.12–1.20 s after; the whole
    /// rebuild's PostgreSQL CPU 3.2–3.4 s before, 3.0–3.15 s after; BENCHMARKS.md). Any other serializer is used as it is.
    /// </summary>
    internal static ISerializer InJsonbOrder(ISerializer serializer) =>
        serializer is not SystemTextJsonSerializer marten
            ? serializer
            : Ordered.GetValue(serializer, _ =>
            {
                var ordered = new SystemTextJsonSerializer { EnumStorage = marten.EnumStorage, Casing = marten.Casing };
                ordered.Configure(options => options.TypeInfoResolver =
                    (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(MembersInJsonbOrder));
                return ordered;
            });

    private static void MembersInJsonbOrder(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object)
            return;
        var order = 0;
        foreach (var property in type.Properties.OrderBy(p => Encoding.UTF8.GetBytes(p.Name), JsonbKeyOrder.Instance))
            property.Order = order++;
    }

    // jsonb's order of keys (lengthCompareJsonbStringValue): by length in bytes, then byte by byte.
    private sealed class JsonbKeyOrder : IComparer<byte[]>
    {
        public static readonly JsonbKeyOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) =>
            x!.Length != y!.Length ? x.Length.CompareTo(y.Length) : x.AsSpan().SequenceCompareTo(y);
    }

    // A duplicated field's value as its column takes it: timestamps in UTC (timestamptz), enums as Marten stores them.
    private static Func<object, object?> ValueOf(MemberInfo[] members, NpgsqlDbType type) => document =>
    {
        object? value = document;
        foreach (var member in members)
        {
            if (value is null)
                return null;
            value = member switch
            {
                PropertyInfo p => p.GetValue(value),
                FieldInfo f => f.GetValue(value),
                _ => throw new NotSupportedException($"{member.Name} is neither a property nor a field."),
            };
        }

        return value switch
        {
            DateTimeOffset at => at.ToUniversalTime(),
            Enum e when type == NpgsqlDbType.Integer => Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture),
            Enum e => e.ToString(),
            _ => value,
        };
    };
}
