using Npgsql;
using Xunit;

namespace CpsLedger.Tests.Harness;

/// <summary>What projections stored, row by row as text, to compare a rebuild's tables with what the inline projections wrote.</summary>
public static class StoredDocuments
{
    /// <summary>
    /// Every row of the documents' tables, every column but the last-modified stamp and a Guid revision (Marten draws a new
    /// one on every write): the id, the JSON, the version, the .NET type and the duplicated fields. A table not created yet is
    /// skipped unless <paramref name="tablesMustExist"/>.
    /// </summary>
    public static async Task<List<string>> RowsAsync(string connectionString, string schema, IEnumerable<Type> documents,
        bool tablesMustExist)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var rows = new List<string>();
        foreach (var table in documents.Select(d => $"mt_doc_{d.Name.ToLowerInvariant()}"))
        {
            var columns = new List<string>();
            await using (var command = new NpgsqlCommand(
                             "select column_name from information_schema.columns where table_schema = $1 and table_name = $2 " +
                             "and column_name <> 'mt_last_modified' and not (column_name = 'mt_version' and data_type = 'uuid') order by ordinal_position", connection))
            {
                command.Parameters.AddWithValue(schema);
                command.Parameters.AddWithValue(table);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                    columns.Add(reader.GetString(0));
            }

            if (tablesMustExist)
                Assert.Contains("data", columns);
            else if (columns.Count == 0)
                continue;
            await using (var command = new NpgsqlCommand(
                             $"select '{table} ' || row({string.Join(", ", columns)})::text from {schema}.{table} order by id", connection))
            {
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                    rows.Add(reader.GetString(0));
            }
        }

        return rows;
    }
}
