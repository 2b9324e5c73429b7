using CpsLedger.Api.Platform;
using Marten;
using Marten.Schema;
using Npgsql;

namespace CpsLedger.Api.Audit;

/// <summary>
/// The columns Marten copies out of a document on every write (its duplicated fields) against the document they were copied from:
/// every document type that has any (an invoice's: what finance's list filters, orders and sums by,
/// <see cref="Invoicing.InvoiceList.AddInvoiceListColumns"/>; a product's, a claim's, a support override's: the account they are
/// found by, an override's time). Lists and lookups read the columns, never the JSON, so a column edited in SQL or left stale by a
/// backfill skews finance's totals or hides a row from its account while the document and the replay of its events agree. The
/// document types and their columns are Marten's mapping's, each column compared with the expression Marten fills it from (the one a
/// migration's backfill runs, <c>DuplicatedField.UpdateSqlFragment</c>): no list of columns or of documents is kept here. One
/// statement for every document type: PostgreSQL reads each row once and sends back only the columns that differ (100,000 copies of
/// one invoice in the tests' cluster on a busy 2-core machine, 2026-12-07: 4.1–4.8 s with the JSON decompressed for each column's
/// expression, 0.75–1.04 s with it decompressed once a row).
/// </summary>
public static class DuplicatedColumns
{
    /// <summary>What a difference's <see cref="ProjectionDifference.Field"/> starts with, followed by the column's name.</summary>
    public const string FieldPrefix = "(column) ";

    /// <summary>The column an account's documents are found by: Marten's name for an <c>AccountId</c> copied out.</summary>
    private const string AccountColumn = "account_id";

    /// <summary>A duplicated column and the SQL expression that reads its value from the document's JSON (<c>data</c>).</summary>
    /// <param name="PgType">The column's PostgreSQL type, e.g. "timestamp with time zone".</param>
    public sealed record Column(string Name, string FromDocument, string PgType)
    {
        /// <summary>
        /// SQL that is true when the column's value (of the row <c>d</c>) is not the document's. A time is equal within a microsecond:
        /// the document keeps .NET's ten-millionths ("…10.5322175"), the column what Npgsql wrote of them, cut to microseconds
        /// (…10.532217), and the expression rounds them (…10.532218): every support override's time differed in a clean ledger.
        /// </summary>
        public string Differs => PgType.StartsWith("timestamp", StringComparison.Ordinal)
            ? $"(d.{Name} is distinct from {FromDocument} and (d.{Name} is null or {FromDocument} is null " +
              $"or abs(extract(epoch from d.{Name} - {FromDocument})) > 0.000001))"
            : $"d.{Name} is distinct from {FromDocument}";
    }

    /// <summary>A document type that has duplicated columns: its table and its columns by name.</summary>
    public sealed record Document(Type Type, string Table, IReadOnlyList<Column> Columns)
    {
        public string Name => Type.Name;

        /// <summary>One account's rows can be found: by the account its column names.</summary>
        public bool HasAccountColumn => Columns.Any(c => c.Name == AccountColumn);
    }

    /// <summary>Every document type of the store that has duplicated columns, by name.</summary>
    public static IReadOnlyList<Document> All(IDocumentStore store) =>
        [.. store.Options.AllKnownDocumentTypes().Select(t => (DocumentMapping)store.Options.FindOrResolveDocumentType(t.DocumentType))
            .Where(m => m.DuplicatedFields.Count > 0)
            .Select(m => new Document(m.DocumentType, DocumentCopy.DocumentTable(store, m.DocumentType), Of(store, m.DocumentType)))
            .OrderBy(d => d.Name, StringComparer.Ordinal)];

    /// <summary>The document type's duplicated columns, by name.</summary>
    public static IReadOnlyList<Column> Of(IDocumentStore store, Type documentType)
    {
        var mapping = (DocumentMapping)store.Options.FindOrResolveDocumentType(documentType);
        return mapping.DuplicatedFields.Select(field =>
        {
            // Marten writes it as `"column" = <expression>` (migrations 019 and 021 show it): the expression is what is kept.
            var fragment = field.UpdateSqlFragment();
            var prefix = $"\"{field.ColumnName}\" = ";
            if (!fragment.StartsWith(prefix, StringComparison.Ordinal))
                throw new InvalidOperationException($"Marten wrote the update of {documentType.Name}'s column {field.ColumnName} in a shape not expected here: {fragment}");
            return new Column(field.ColumnName, fragment[prefix.Length..], field.PgType);
        }).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Every duplicated column, of every document type that has any, whose value is not its document's: a difference each,
    /// <c>stored</c> the column's value and <c>replayed</c> the document's (the value the column copies), both as JSON, by document
    /// type, id and column. Values are compared as the column's type (10.0 equals 10.00). A document value that cannot be read as the
    /// column's type (its JSON edited) stops the comparison of its document type, not the report: one difference says that type's
    /// columns were not compared, and the other types are compared each by a statement of its own (only then: a round trip a type).
    /// </summary>
    /// <param name="accountId">One account's rows (null: every row): those whose account column names it, as the account's lists and
    /// its streams (<see cref="AccountStreams"/>) find them. A row whose account column was changed to another account is that account's
    /// now: named at its verification, and at the whole ledger's. A document type without an account column is compared only there
    /// (none has one today).</param>
    public static async Task<IReadOnlyList<ProjectionDifference>> CompareAsync(IDocumentStore store, Guid? accountId, CancellationToken ct)
    {
        var documents = All(store).Where(d => accountId is null || d.HasAccountColumn).ToList();
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        try
        {
            return await ReadAsync(connection, documents, accountId, ct);
        }
        catch (PostgresException e) when (NotReadable(e))
        {
            var differences = new List<ProjectionDifference>();
            foreach (var document in documents)
            {
                try
                {
                    differences.AddRange(await ReadAsync(connection, [document], accountId, ct));
                }
                catch (PostgresException unreadable) when (NotReadable(unreadable))
                {
                    differences.Add(new ProjectionDifference(document.Name, "(columns)", FieldPrefix.TrimEnd(),
                        $"not compared: {unreadable.MessageText}", null));
                }
            }

            return differences;
        }
    }

    // Class 22, data exception: a value in the JSON that is not a number or a date where the column holds one.
    private static bool NotReadable(PostgresException e) => e.SqlState.StartsWith("22", StringComparison.Ordinal);

    private static async Task<List<ProjectionDifference>> ReadAsync(NpgsqlConnection connection, IReadOnlyList<Document> documents,
        Guid? accountId, CancellationToken ct)
    {
        var differences = new List<ProjectionDifference>();
        if (documents.Count == 0)
            return differences;
        await using var command = new NpgsqlCommand(Sql(documents, accountId is not null), connection);
        if (accountId is { } account)
            command.Parameters.AddWithValue("account", account);

        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            differences.Add(new ProjectionDifference(reader.GetString(0), reader.GetString(1), FieldPrefix + reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        return differences;
    }

    /// <summary>
    /// The statement: for each document type, the rows where any column differs (the condition PostgreSQL tests as it reads each
    /// row), then one row per column that does; all types' together, by type, id and column.
    /// </summary>
    /// <param name="oneAccount">Only the rows whose account column is <c>@account</c>.</param>
    public static string Sql(IReadOnlyList<Document> documents, bool oneAccount) =>
        string.Join(" union all ", documents.Select(d => $"({Sql(d, oneAccount)})")) + " order by 1, 2, 3";

    private static string Sql(Document document, bool oneAccount)
    {
        var columns = document.Columns;
        var values = string.Join(", ", columns.Select(c =>
            $"('{c.Name}', to_jsonb(d.{c.Name})::text, to_jsonb({c.FromDocument})::text, {c.Differs})"));
        // Each row's JSON read (decompressed) once, not once for each column's expression: an operator's result is kept in memory,
        // and the expressions read `data`, here the subquery's. OFFSET 0 keeps PostgreSQL from folding the subquery into the scan.
        var rows = $"(select id, {string.Join(", ", columns.Select(c => c.Name))}, data || '{{}}'::jsonb as data from {document.Table}" +
                   $"{(oneAccount ? $" where {AccountColumn} = @account" : "")} offset 0)";
        return $"select '{document.Name}'::text as document, d.id::text as id, c.name, c.stored, c.document as copied from {rows} as d " +
               $"cross join lateral (values {values}) as c(name, stored, document, differs) " +
               $"where ({string.Join(" or ", columns.Select(c => c.Differs))}) and c.differs";
    }
}
